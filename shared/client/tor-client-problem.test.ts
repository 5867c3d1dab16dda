import { describe, expect, it, vi } from 'vitest';
import { ChannelError, MemoryStore } from '../util/index.ts';
import { TorClient, type BootstrapStatus } from './tor-client.ts';

/**
 * The client reports why bootstrapping is stuck as soon as the first attempt fails (it goes on
 * retrying), so a popup can say "bridge unreachable" within a second rather than after the
 * retries give up.
 */
describe('TorClient bootstrap problems', () => {
  it('a bridge whose WebSocket never opens: the Tor network cannot be reached, the bridge named by its URL, while retrying', async () => {
    const url = 'ws://127.0.0.1:1/';
    const seen: BootstrapStatus[] = [];
    const client = new TorClient({
      authorities: [{ nickname: 'a', v3ident: 'AA'.repeat(20), fingerprint: 'BB'.repeat(20), address: '127.0.0.1', orPort: 1, dirPort: 1 }],
      bridges: [{ address: '127.0.0.1', port: 1, fingerprint: 'CC'.repeat(20), ntorOnionKey: new Uint8Array(32), url }],
      transports: async () => { throw new ChannelError(`WebSocket to ${url} failed (bridge unreachable?)`); },
      store: new MemoryStore(),
      onBootstrap: (s) => seen.push(s),
    });
    const done = client.bootstrap().then(() => 'bootstrapped', (e: unknown) => e);
    await expect.poll(() => client.bootstrapStatus.problem?.kind, { timeout: 5_000 }).toBe('bridge-unreachable');
    const s = client.bootstrapStatus;
    expect(s.problem!.message).toBe(`Cannot reach the Tor network: the bridge ${url} does not answer`);
    expect(s.percent).toBe(25); // still asking for the consensus
    expect(seen.at(-1)).toEqual(s);
    await client.close();
    const outcome = await done;
    expect(outcome).toBeInstanceOf(Error);
  });

  it('a bridge that never answers: bootstrapping gives up after its retries (it ends), the bridge still named', async () => {
    vi.useFakeTimers();
    try {
      const url = 'ws://127.0.0.1:1/';
      let dials = 0;
      const client = new TorClient({
        authorities: [{ nickname: 'a', v3ident: 'AA'.repeat(20), fingerprint: 'BB'.repeat(20), address: '127.0.0.1', orPort: 1, dirPort: 1 }],
        bridges: [{ address: '127.0.0.1', port: 1, fingerprint: 'CC'.repeat(20), ntorOnionKey: new Uint8Array(32), url }],
        transports: async () => {
          dials++;
          throw new ChannelError(`WebSocket to ${url} failed`, { peer: url, phase: 'connect' });
        },
        store: new MemoryStore(),
      });
      let outcome: unknown = 'pending';
      void client.bootstrap().then(() => (outcome = 'bootstrapped'), (e: unknown) => (outcome = e));
      // The retries' back-off runs on timers: advance simulated time until the bootstrap settles
      // (bounded: a client that retried forever would fail this loop, not hang it).
      for (let i = 0; i < 100 && outcome === 'pending'; i++) await vi.advanceTimersByTimeAsync(1_000);
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toMatch(/^bootstrap stalled in phase need-consensus/);
      expect(dials).toBeGreaterThan(1);
      expect(client.bootstrapStatus.problem?.message).toBe(`Cannot reach the Tor network: the bridge ${url} does not answer`);
      client.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
