import { afterEach, describe, expect, it } from 'vitest';
import { ChannelError, MemoryStore, TelescopeError } from '../util/index.ts';
import { GuardManager } from '../path/index.ts';
import { rejection } from '../testing/thrown.ts';
import { ChannelPool } from './channel-pool.ts';
import { DirectoryFetcher, type DirectoryFetcherOptions } from './dir-fetch.ts';

/**
 * Where directory documents come from before any circuit exists: the authorities' DirPorts, tried
 * in turn until one answers. (Circuits to bridges and guards are exercised against real relays in
 * e2e/client-circuits.e2e.test.ts.)
 */
const authorities = [
  { nickname: 'auth1', address: '127.0.0.1', dirPort: 7001 },
  { nickname: 'auth2', address: '127.0.0.1', dirPort: 7002 },
];

describe('DirectoryFetcher without a network view or bridges', () => {
  const pools: ChannelPool[] = [];
  afterEach(() => { for (const p of pools.splice(0)) p.closeAll(); });

  function fetcher(extra: Partial<DirectoryFetcherOptions>): { fetcher: DirectoryFetcher; steps: string[] } {
    const pool = new ChannelPool(() => Promise.reject(new ChannelError('no transports in this test')));
    pools.push(pool);
    const steps: string[] = [];
    const f = new DirectoryFetcher({
      pool,
      guards: new GuardManager(new MemoryStore()),
      netDir: () => undefined,
      bridges: () => [],
      authorities,
      progress: (_percent, tag, summary) => steps.push(`${tag}: ${summary}`),
      ...extra,
    });
    return { fetcher: f, steps };
  }

  it('fetches from an authority\'s DirPort, going on to the next when one fails', async () => {
    const asked: number[] = [];
    const { fetcher: f, steps } = fetcher({
      dirPortGet: async (_address, port, path) => {
        asked.push(port);
        if (asked.length === 1) throw new TelescopeError('connection refused');
        return new TextEncoder().encode(`${path} from ${port}`);
      },
    });
    const body = new TextDecoder().decode(await f.fetch('/tor/status-vote/current/consensus-microdesc'));
    expect(asked.length).toBe(2);
    expect(new Set(asked)).toEqual(new Set([7001, 7002]));
    expect(body).toBe(`/tor/status-vote/current/consensus-microdesc from ${asked[1]}`);
    expect(steps.length).toBe(2);
    expect(steps.every((s) => s.startsWith('conn: Connecting to directory authority auth'))).toBe(true);
  });

  it('says which path no authority answered, with the last failure as cause', async () => {
    const last = new TelescopeError('timed out');
    const { fetcher: f } = fetcher({ dirPortGet: async () => { throw last; } });
    const e = await rejection(f.fetch('/tor/keys/all'));
    expect(e).toBeInstanceOf(TelescopeError);
    expect((e as Error).message).toContain('/tor/keys/all');
    expect((e as Error).cause).toBe(last);
  });

  it('has no source at all without a DirPort fetch, bridges or a network view', async () => {
    const { fetcher: f } = fetcher({});
    expect(await rejection(f.fetch('/tor/keys/all'))).toBeInstanceOf(TelescopeError);
  });

  it('spreads microdescriptors over every authority\'s DirPort at a first bootstrap', async () => {
    const asked: string[] = [];
    const { fetcher: f } = fetcher({ dirPortGet: async (address, port, path) => { asked.push(`${address}:${port}${path}`); return new Uint8Array(0); } });
    const caches = await f.caches();
    expect(caches.map((c) => c.kind)).toEqual(['dirport', 'dirport']);
    expect(new Set(caches.map((c) => c.id)).size).toBe(2);
    await f.fetchFrom(caches[1]!, '/tor/micro/d/abc');
    expect(asked).toEqual(['127.0.0.1:7002/tor/micro/d/abc']);
  });

  it('with bridges, every bridge whose key is known is a cache, and only they are', async () => {
    const bridge = (n: number, key = true) => ({ address: '127.0.0.1', port: 9000 + n, fingerprint: String(n).repeat(40), ...(key ? { ntorOnionKey: new Uint8Array(32).fill(n) } : {}) });
    const { fetcher: f } = fetcher({ bridges: () => [bridge(1), bridge(2, false), bridge(3)], dirPortGet: async () => new Uint8Array(0) });
    const caches = await f.caches();
    expect(caches.map((c) => c.kind)).toEqual(['relay', 'relay']);
    expect(caches.map((c) => c.id)).toEqual([`bridge $${'1'.repeat(40)}`, `bridge $${'3'.repeat(40)}`]);
  });

  it('has no cache at all without a DirPort fetch, bridges or a network view', async () => {
    const { fetcher: f } = fetcher({});
    expect(await rejection(f.caches())).toBeInstanceOf(TelescopeError);
  });
});
