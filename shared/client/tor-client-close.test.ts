import { describe, expect, it } from 'vitest';
import { ChannelError, MemoryStore, TelescopeError, type KeyValueStore } from '../util/index.ts';
import { GUARD_FLAGS, MIDDLE_FLAGS, EXIT_FLAGS, netDir, relay } from '../path/fixtures/synthetic-netdir.ts';
import { TorClient } from './tor-client.ts';

/**
 * close() and the store: a host may remove or reuse the DataDirectory as soon as close() resolves,
 * so close() waits for the writes the client started (here the guard state, written by guard
 * selection as circuits are built) and starts none afterwards.
 */

/** Writes land only when the test releases them. */
class GatedStore implements KeyValueStore {
  readonly inner = new MemoryStore();
  private readonly held: (() => void)[] = [];
  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }
  set(key: string, value: string): Promise<void> {
    return new Promise((resolve) => this.held.push(() => void this.inner.set(key, value).then(resolve)));
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  get waiting(): number {
    return this.held.length;
  }
  releaseAll(): void {
    for (const h of this.held.splice(0)) h();
  }
}

const dir = netDir([
  relay({ name: 'g1', flags: GUARD_FLAGS, bandwidth: 100 }),
  relay({ name: 'g2', flags: GUARD_FLAGS, bandwidth: 100 }),
  relay({ name: 'mid', flags: MIDDLE_FLAGS, bandwidth: 100 }),
  relay({ name: 'exit', flags: EXIT_FLAGS, bandwidth: 100, policy: 'accept 1-65535' }),
]);

function client(store: KeyValueStore): TorClient {
  return new TorClient({
    authorities: [{ nickname: 'a', v3ident: 'AA'.repeat(20), fingerprint: 'BB'.repeat(20), address: '127.0.0.1', orPort: 1, dirPort: 1 }],
    transports: async () => { throw new ChannelError('no network in this test'); },
    store,
  });
}

describe('TorClient.close', () => {
  it('resolves only after the store writes in flight have landed', async () => {
    const store = new GatedStore();
    const c = client(store);
    const picking = c.guards.pick(dir); // samples guards and saves the sample
    await expect.poll(() => store.waiting).toBe(1);
    let closed = false;
    const closing = c.close().then(() => { closed = true; });
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    store.releaseAll();
    await closing;
    await picking;
    expect(JSON.parse((await store.inner.get('guards'))!)).toHaveLength(2);
  });

  it('starts no store write after close: what asks for one is refused (kind "cancelled")', async () => {
    const store = new MemoryStore();
    const c = client(store);
    await c.close();
    const e = await c.guards.pick(dir).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(TelescopeError);
    expect((e as TelescopeError).kind).toBe('cancelled');
    expect(await store.get('guards')).toBeUndefined();
  });
});
