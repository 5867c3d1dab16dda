import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../testnet/relay-process.ts';
import { sharedTestnet } from '../shared-testnet.ts';
import type { TestnetDescription } from '../../testnet/index.ts';
import { attack } from './attacks/index.ts';
import { expectHeld, relayTail, summaryTable, underAttack } from './harness.ts';
import { waitUntilUsable } from './honest.ts';
import { attackerAddress } from './peer.ts';

/**
 * The relay-bridge as a browser's bridge, attacked on its resources: attacks 3 (circuit-table
 * exhaustion), 4 (directory amplification), 5 (backpressure) and 6 (before the handshake) of issue
 * 11. One bridge for the file (each attack cleans up after itself, and each comes from a source
 * address of its own, so per-address state does not carry over); the honest client enters the
 * network through the bridge over WebSocket, from an address of its own, on a new link and circuit each time.
 */

/** Connections one address may hold open at once, set as an operator would (tor's default is 50). */
const MAX_CONCURRENT = 50;

let desc: TestnetDescription;
let relay: RelayProcess;

beforeAll(async () => {
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0', `DoSConnectionMaxConcurrentCount ${MAX_CONCURRENT}`], 'hostilebridge');
  await waitUntilUsable(desc, relay, 'entry').catch((e: unknown) => { throw new Error(`${String(e)}\n${relayTail(relay)}`); });
}, 150_000);

afterAll(async () => {
  console.log(`hostile resource attacks, honest 1 MiB download time alone and during each attack:\n${summaryTable()}`);
  await relay?.stop();
});

describe('hostile peers against the bridge\'s resources', () => {
  it('3. circuit-table exhaustion: 40 WebSocket links sending CREATE_FAST / CREATE2 as fast as they can, reopened when closed', async () => {
    const run = await underAttack('circuit-table exhaustion', { desc, relay }, attack('circuitExhaustion', { connections: 40 }), { route: 'entry', address: attackerAddress(10), warmupMs: 3000 });
    expect(run.report.sent, run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
    // The abuser is the one refused (the honest client, above, was not): DESTROY RESOURCELIMIT
    // while its links may still be told, then its links closed (CREATE_FAST over WebSocket at the
    // first one; CREATE2 past its refusals) and, once marked, its new connections refused.
    expect(run.report.answers.get('DESTROY RESOURCELIMIT'), run.report.summary).toBeGreaterThan(0);
    expect(run.report.links.get('closed by the relay'), run.report.summary).toBeGreaterThan(0);
    expect(run.report.links.startingWith('connect failed'), run.report.summary).toBeGreaterThan(0);
  });

  it('4. directory amplification: many BEGIN_DIR streams per circuit asking for the consensus, never read', async () => {
    const run = await underAttack('directory amplification', { desc, relay }, attack('dirAmplification', {}), { route: 'entry', address: attackerAddress(11), warmupMs: 3000 });
    expect(run.report.circuits.get('built'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
    // One client asked for 1000 directory streams on one link (200 per circuit): it must not get them all.
    expect(run.report.streams.startingWith('END'), `directory streams of one client are capped: ${run.report.summary}`).toBeGreaterThan(0);
  });

  it('5a. backpressure: a client that stops reading with 5 MiB downloads in flight', async () => {
    const run = await underAttack('backpressure: slow reader', { desc, relay }, attack('slowReader', {}), { route: 'entry', address: attackerAddress(12), warmupMs: 3000 });
    expect(run.report.circuits.get('built'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
  });

  it('5b. backpressure: a flood of cells towards the next hop the honest client also uses', async () => {
    const run = await underAttack('backpressure: flood to next hop', { desc, relay }, attack('floodTowardsNextHop', {}), { route: 'entry', address: attackerAddress(13), warmupMs: 3000 });
    expect(run.report.cellsSent, run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
  });

  it('6a. a 64 KB VERSIONS cell, one byte per WebSocket message', async () => {
    const run = await underAttack('pre-handshake: byte-by-byte VERSIONS', { desc, relay }, attack('byteByByteVersions', {}), { route: 'entry', address: attackerAddress(14), warmupMs: 3000 });
    expect(run.report.connections.get('opened'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
  });

  it('6b. slowloris: HTTP upgrade headers that never end', async () => {
    const run = await underAttack('pre-handshake: slowloris upgrades', { desc, relay }, attack('slowloris', {}), { route: 'entry', address: attackerAddress(15), warmupMs: 3000 });
    expect(run.report.connections.get('opened'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
    expect(run.report.stillOpen, `at most ${MAX_CONCURRENT} connections from one address: ${run.report.summary}`).toBeLessThanOrEqual(MAX_CONCURRENT);
  });

  it('6c. TLS connections that never finish the handshake', async () => {
    const run = await underAttack('pre-handshake: unfinished TLS', { desc, relay }, attack('unfinishedTls', {}), { route: 'entry', address: attackerAddress(16), warmupMs: 2000 });
    expect(run.report.connections.get('opened'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
    expect(run.report.stillOpen, `at most ${MAX_CONCURRENT} connections from one address: ${run.report.summary}`).toBeLessThanOrEqual(MAX_CONCURRENT);
  });

  it('6d. hundreds of idle connections on both listeners', async () => {
    const run = await underAttack('pre-handshake: idle connections', { desc, relay }, attack('idleConnections', {}), { route: 'entry', address: attackerAddress(17), warmupMs: 2000 });
    expect(run.report.connections.get('opened'), run.report.summary).toBeGreaterThan(0);
    expectHeld(run, relay);
    expect(run.report.stillOpen, `at most ${MAX_CONCURRENT} connections from one address: ${run.report.summary}`).toBeLessThanOrEqual(MAX_CONCURRENT);
  });
});
