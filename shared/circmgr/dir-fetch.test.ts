import { afterEach, describe, expect, it } from 'vitest';
import type { TransportFactory } from '../channel/index.ts';
import type { DirAuthority, FallbackDir } from '../directory/index.ts';
import { ChannelError, MemoryStore, NetworkUnreachableError } from '../util/index.ts';
import { GuardManager } from '../path/index.ts';
import { rejection } from '../testing/thrown.ts';
import { ChannelPool } from './channel-pool.ts';
import { DirectoryFetcher, type DirectoryFetcherOptions } from './dir-fetch.ts';

/**
 * Where directory documents come from before any network view exists: the first contact, at the
 * fallbacks' and authorities' ORPorts (the schedule itself: first-contact.test.ts; circuits to
 * fallbacks, authorities, bridges and guards against real relays: e2e/builtin-network.e2e.test.ts
 * and e2e/client-circuits.e2e.test.ts).
 */
const FP = (i: number): string => i.toString(16).toUpperCase().padStart(40, '0');
const fallbacks: FallbackDir[] = [1, 2].map((i) => ({ nickname: undefined, address: '127.0.0.1', orPort: 5000 + i, dirPort: undefined, fingerprint: FP(i), ipv6: undefined, weight: undefined }));
const authorities: DirAuthority[] = [{ nickname: 'auth1', address: '127.0.0.1', orPort: 6001, dirPort: 7001, fingerprint: FP(101), v3ident: FP(201) }];

describe('DirectoryFetcher without a network view or bridges', () => {
  const pools: ChannelPool[] = [];
  afterEach(() => { for (const p of pools.splice(0)) p.closeAll(); });

  function fetcher(extra: Partial<DirectoryFetcherOptions>): { fetcher: DirectoryFetcher; steps: string[]; dialled: number[] } {
    const dialled: number[] = [];
    // Every port is closed: the connection fails as a refused TCP connect does.
    const transports: TransportFactory = (target) => {
      dialled.push(target.port);
      return Promise.reject(new ChannelError(`connect ${target.address}:${target.port}: refused`, { phase: 'connect' }));
    };
    const pool = new ChannelPool(transports);
    pools.push(pool);
    const steps: string[] = [];
    const f = new DirectoryFetcher({
      pool,
      guards: new GuardManager(new MemoryStore()),
      netDir: () => undefined,
      bridges: () => [],
      authorities,
      fallbacks,
      // tor's schedule, faster: the order is what matters here.
      firstContact: { timing: { tickMs: 5, authorityDelayMs: 30 } },
      progress: (_percent, tag, summary) => steps.push(`${tag}: ${summary}`),
      ...extra,
    });
    return { fetcher: f, steps, dialled };
  }

  it('dials the fallbacks\' ORPorts first, then the authorities\', and says it cannot reach the network', async () => {
    const { fetcher: f, steps, dialled } = fetcher({});
    const e = await rejection(f.fetch('/tor/status-vote/current/consensus-microdesc'));
    expect(e).toBeInstanceOf(NetworkUnreachableError);
    expect((e as Error).message).toBe('cannot reach the Tor network: tried 2 of 2 fallback directories and 1 of 1 directory authority; every one failed (3 connection failed)');
    expect(new Set(dialled.slice(0, 2))).toEqual(new Set([5001, 5002]));
    expect(dialled.slice(2)).toEqual([6001]);
    expect(steps).toEqual(['conn: Connecting to a fallback directory']);
  });

  it('asks the authorities alone when the network has no fallbacks (a private network)', async () => {
    const { fetcher: f, steps, dialled } = fetcher({ fallbacks: [] });
    const e = await rejection(f.fetch('/tor/keys/all'));
    expect(e).toBeInstanceOf(NetworkUnreachableError);
    expect((e as NetworkUnreachableError).tried).toEqual({ fallbacks: 0, authorities: 1 });
    expect((e as Error).message).toMatch(/^cannot reach the Tor network: tried 1 of 1 directory authority; /);
    expect(dialled).toEqual([6001]);
    expect(steps).toEqual(['conn: Connecting to a directory authority']);
  });

  it('tries a new first contact for the next fetch', async () => {
    const { fetcher: f, dialled } = fetcher({});
    await rejection(f.fetch('/tor/keys/all'));
    await rejection(f.fetch('/tor/keys/all'));
    expect(dialled).toHaveLength(6);
  });

  it('at a first bootstrap the one cache is the first contact: microdescriptors go where the consensus came from', async () => {
    const { fetcher: f, dialled } = fetcher({});
    const caches = await f.caches();
    expect(caches).toEqual([{ kind: 'first-contact', id: 'the first directory contact' }]);
    // Fetching from it is fetching from the first contact (here unreachable: every source dialled).
    expect(await rejection(f.fetchFrom(caches[0]!, '/tor/micro/d/abc'))).toBeInstanceOf(NetworkUnreachableError);
    expect(dialled.length).toBeGreaterThan(0);
  });

  it('with bridges, every bridge whose key is known is a cache, and only they are', async () => {
    const bridge = (n: number, key = true) => ({ address: '127.0.0.1', port: 9000 + n, fingerprint: String(n).repeat(40), ...(key ? { ntorOnionKey: new Uint8Array(32).fill(n) } : {}) });
    const { fetcher: f } = fetcher({ bridges: () => [bridge(1), bridge(2, false), bridge(3)] });
    const caches = await f.caches();
    expect(caches.map((c) => c.kind)).toEqual(['relay', 'relay']);
    expect(caches.map((c) => c.id)).toEqual([`bridge $${'1'.repeat(40)}`, `bridge $${'3'.repeat(40)}`]);
  });
});
