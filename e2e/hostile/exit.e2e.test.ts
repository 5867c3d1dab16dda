import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../testnet/relay-process.ts';
import { sharedTestnet } from '../shared-testnet.ts';
import type { TestnetDescription } from '../../testnet/index.ts';
import { startResettingServer, type ResettingServer } from './attacks/exit-reset.ts';
import { attack } from './attacks/index.ts';
import { expectHeld, relayTail, summaryTable, underAttack } from './harness.ts';
import { waitUntilUsable } from './honest.ts';
import { ANSWERED } from './outcomes.ts';
import { attackerAddress } from './peer.ts';

/**
 * The relay-bridge as an exit, attacked through its exit: attacks 1 (a destination that resets),
 * 2 (one-hop exit over WebSocket and with throwaway relay keys) and 7 (exit hygiene) of issue 11.
 * One bridge for the file; each attack from a source address of its own. The honest client uses
 * the bridge as its exit, behind a tor guard, so the exit itself is what it depends on.
 *
 * The bridge looks host names up at the private network's loopback DNS responder, as the tor exits
 * do (loopback-resolver.mjs, preloaded): the system resolver's server is not on this machine, and
 * attack 7 sends hundreds of names.
 */

let desc: TestnetDescription;
let relay: RelayProcess;
let resetting: ResettingServer;

beforeAll(async () => {
  desc = sharedTestnet();
  resetting = await startResettingServer();
  // The relay process inherits our environment: preload the loopback resolver into it only.
  const saved = { options: process.env.NODE_OPTIONS, port: process.env.TELESCOPE_HOSTILE_DNS_PORT };
  process.env.NODE_OPTIONS = `${saved.options ?? ''} --import ${fileURLToPath(new URL('./loopback-resolver.mjs', import.meta.url))}`.trim();
  process.env.TELESCOPE_HOSTILE_DNS_PORT = String(desc.web.dnsPort);
  try {
    relay = await startRelayProcess(desc, [
      'BridgeRelay 1',
      'PublishServerDescriptor 0',
      'ExitRelay 1',
      'ExitPolicy accept *:*',
      'ExitPolicyRejectPrivate 0',
      'OutboundBindAddress 127.0.0.1',
    ], 'hostileexit');
  } finally {
    restoreEnv('NODE_OPTIONS', saved.options);
    restoreEnv('TELESCOPE_HOSTILE_DNS_PORT', saved.port);
  }
  expect(relay.output(), 'the bridge must look names up on loopback only').toContain(`loopback-resolver: host names are looked up at 127.0.0.1:${desc.web.dnsPort} only`);
  await waitUntilUsable(desc, relay, 'exit').catch((e: unknown) => { throw new Error(`${String(e)}\n${relayTail(relay)}`); });
}, 150_000);

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

afterAll(async () => {
  console.log(`hostile exit attacks, honest 1 MiB download time alone and during each attack:\n${summaryTable()}`);
  await relay?.stop();
  await resetting?.close();
});

describe('hostile peers against the bridge as exit', () => {
  it('1. a destination that resets the exit connection costs only that stream', async () => {
    const run = await underAttack('exit TCP reset', { desc, relay }, attack('exitReset', { port: resetting.port }), { route: 'exit', address: attackerAddress(0), warmupMs: 3000 });
    expectHeld(run, relay);
    console.log(`  the destination reset ${resetting.resets()} connections`);
    expect(resetting.resets(), run.report.summary).toBeGreaterThan(0);
  });

  it('2. one-hop exit: neither BEGIN nor RESOLVE, over WebSocket or with throwaway relay keys', async () => {
    const run = await underAttack('one-hop exit', { desc, relay }, attack('oneHopExit', {}), { route: 'exit', address: attackerAddress(1), warmupMs: 1000 });
    expectHeld(run, relay);
    const r = run.report;
    // The probes ran (links opened, circuits built) ...
    expect(r.webSocketBegin.total + r.authenticatedBegin.total, r.summary).toBeGreaterThan(0);
    // ... and not one of them exited.
    expect(r.webSocketBegin.get('CONNECTED'), r.summary).toBe(0);
    expect(r.authenticatedBegin.get('CONNECTED'), r.summary).toBe(0);
    expect(r.webSocketResolve.matching(ANSWERED), r.summary).toBe(0);
    expect(r.authenticatedResolve.matching(ANSWERED), r.summary).toBe(0);
  });

  it('7. exit hygiene: no re-entry into the network, a DNS burst, no EXTEND2 to itself or back', async () => {
    const run = await underAttack('exit hygiene', { desc, relay }, attack('exitHygiene', {}), { route: 'exit', address: attackerAddress(2), warmupMs: 2000 });
    expectHeld(run, relay);
    const r = run.report;
    expect(r.circuits.get('built'), r.summary).toBeGreaterThan(0);
    for (const [target, tally] of r.reentry) {
      expect(tally.total, `${target}: ${r.summary}`).toBeGreaterThan(0);
      expect(tally.get('CONNECTED'), `BEGIN to ${target} must be refused: ${r.summary}`).toBe(0);
    }
    expect(r.dnsResolve.total + r.dnsBegin.total, r.summary).toBeGreaterThan(0);
    // The names do not exist: no lookup may come back with an address.
    expect(r.dnsResolve.matching(ANSWERED) + r.dnsBegin.get('CONNECTED'), r.summary).toBe(0);
    expect(r.extendToItself.total, r.summary).toBeGreaterThan(0);
    expect(r.extendToItself.get('EXTENDED'), r.summary).toBe(0);
    expect(r.extendBack.total, r.summary).toBeGreaterThan(0);
    expect(r.extendBack.get('EXTENDED'), r.summary).toBe(0);
  });
});
