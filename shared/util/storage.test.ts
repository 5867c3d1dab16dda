import { describe, expect, it } from 'vitest';
import { MemoryStore, WriteTrackingStore, type KeyValueStore } from './storage.ts';
import { TelescopeError } from './errors.ts';

/** A store whose writes land only when the test lets them (as a slow disk or IndexedDB would). */
class GatedStore implements KeyValueStore {
  readonly inner = new MemoryStore();
  private readonly gates: { release: () => void; fail: (e: Error) => void }[] = [];

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }
  set(key: string, value: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.gates.push({ release: () => void this.inner.set(key, value).then(resolve), fail: reject });
    });
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  get waiting(): number {
    return this.gates.length;
  }
  releaseNext(): void {
    this.gates.shift()!.release();
  }
  failNext(e: Error): void {
    this.gates.shift()!.fail(e);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('WriteTrackingStore', () => {
  it('passes reads and writes through to the store it wraps', async () => {
    const inner = new MemoryStore();
    const s = new WriteTrackingStore(inner);
    await s.set('a', '1');
    expect(await inner.get('a')).toBe('1');
    expect(await s.get('a')).toBe('1');
    await s.delete('a');
    expect(await s.get('a')).toBeUndefined();
    expect(s.pendingWrites).toBe(0);
  });

  it('close() resolves only once every write already started has landed', async () => {
    const gated = new GatedStore();
    const s = new WriteTrackingStore(gated);
    const w1 = s.set('consensus', 'c');
    const w2 = s.set('guards', 'g');
    expect(s.pendingWrites).toBe(2);
    let closed = false;
    const closing = s.close().then(() => { closed = true; });
    await tick();
    expect(closed).toBe(false);
    gated.releaseNext();
    await w1;
    await tick();
    expect(closed).toBe(false);
    gated.releaseNext();
    await closing;
    await w2;
    expect(await gated.inner.get('consensus')).toBe('c');
    expect(await gated.inner.get('guards')).toBe('g');
    expect(s.pendingWrites).toBe(0);
  });

  it('a write that fails does not keep close() waiting, and its caller still sees the failure', async () => {
    const gated = new GatedStore();
    const s = new WriteTrackingStore(gated);
    const w = s.set('k', 'v');
    const closing = s.close();
    gated.failNext(new Error('disk full'));
    await expect(w).rejects.toThrow('disk full');
    await closing;
    expect(s.pendingWrites).toBe(0);
  });

  it('after close() no write starts: set and delete are refused with kind "cancelled", naming the key', async () => {
    const gated = new GatedStore();
    const s = new WriteTrackingStore(gated);
    await s.close();
    for (const attempt of [s.set('guards', 'x'), s.delete('guards')]) {
      const e = await attempt.then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(TelescopeError);
      expect((e as TelescopeError).kind).toBe('cancelled');
      expect((e as TelescopeError).message).toContain('"guards"');
    }
    expect(gated.waiting).toBe(0);
    expect(await s.get('guards')).toBeUndefined();
  });
});
