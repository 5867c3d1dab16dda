import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../relay-process.ts';
import { sharedTestnet } from '../shared-testnet.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { exitReset, startResettingServer, type ResettingServer } from './attacks/exit-reset.ts';
import { oneHopExit } from './attacks/one-hop-exit.ts';
import { relayTail, summaryTable, underAttack } from './harness.ts';
import { waitUntilUsable } from './honest.ts';
import { attackerAddress } from './peer.ts';

/**
 * The relay-bridge as an exit, attacked through its exit: attacks 1 (a destination that resets),
 * 2 (one-hop exit over WebSocket and with throwaway relay keys) and 7 (exit hygiene) of issue 11.
 * One bridge for the file; each attack from a source address of its own. The honest client uses
 * the bridge as its exit, behind a tor guard, so the exit itself is what it depends on.
 */

let desc: TestnetDescription;
let relay: RelayProcess;
let resetting: ResettingServer;

beforeAll(async () => {
  desc = sharedTestnet();
  resetting = await startResettingServer();
  relay = await startRelayProcess(desc, [
    'BridgeRelay 1',
    'PublishServerDescriptor 0',
    'ExitRelay 1',
    'ExitPolicy accept *:*',
    'ExitPolicyRejectPrivate 0',
    'OutboundBindAddress 127.0.0.1',
  ], 'hostileexit');
  await waitUntilUsable(desc, relay, 'exit');
}, 150_000);

afterAll(async () => {
  console.log(`hostile exit attacks, honest 1 MiB download time alone and during each attack:\n${summaryTable()}`);
  await relay?.stop();
  await resetting?.close();
});

describe('hostile peers against the bridge as exit', () => {
  it('1. a destination that resets the exit connection costs only that stream', async () => {
    const run = await underAttack('exit TCP reset', { desc, relay }, exitReset(resetting), { route: 'exit', address: attackerAddress(0), warmupMs: 3000 });
    expect(run.relayAlive, relayTail(relay)).toBe(true);
    expect(run.during, relayTail(relay)).toHaveProperty('ms');
    expect(resetting.resets(), run.report.summary).toBeGreaterThan(0);
  });

  it('2. one-hop exit: neither BEGIN nor RESOLVE, over WebSocket or with throwaway relay keys', async () => {
    const run = await underAttack('one-hop exit', { desc, relay }, oneHopExit(), { route: 'exit', address: attackerAddress(1), warmupMs: 1000 });
    expect(run.relayAlive, relayTail(relay)).toBe(true);
    expect(run.during, relayTail(relay)).toHaveProperty('ms');
    const r = run.report;
    // The probes ran (links opened, circuits built) ...
    expect(r.webSocketBegin.total + r.authenticatedBegin.total, r.summary).toBeGreaterThan(0);
    // ... and not one of them exited.
    expect(r.webSocketBegin.get('CONNECTED'), r.summary).toBe(0);
    expect(r.authenticatedBegin.get('CONNECTED'), r.summary).toBe(0);
    expect(r.webSocketResolve.startingWith('RESOLVED 1'), r.summary).toBe(0);
    expect(r.authenticatedResolve.startingWith('RESOLVED 1'), r.summary).toBe(0);
  });
});
