import { TelescopeError } from './errors.ts';

/**
 * Persistent key-value storage handed in by the host: files in a data directory in Node,
 * IndexedDB / extension storage in the browser, a Map in tests. Values are strings (JSON or
 * document text); the core decides what to keep.
 */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** A store that forgets everything when the process ends. */
export class MemoryStore implements KeyValueStore {
  private readonly map = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  async set(key: string, value: string): Promise<void> {
    this.map.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
}

/**
 * A store that knows which of its writes are in flight, so that its owner can finish only once
 * they have landed: a host that removes a data directory right after closing a client must not
 * race a file the client was still writing into it (FileStore's temp file and rename). After
 * close() no write starts: one asked for later is refused (kind 'cancelled'), since its owner has
 * stopped and what it would write could land after the owner's caller moved on.
 */
export class WriteTrackingStore implements KeyValueStore {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly inner: KeyValueStore) {}

  get(key: string): Promise<string | undefined> {
    return this.inner.get(key);
  }

  set(key: string, value: string): Promise<void> {
    return this.track(key, () => this.inner.set(key, value));
  }

  delete(key: string): Promise<void> {
    return this.track(key, () => this.inner.delete(key));
  }

  /** Writes started and not yet settled. */
  get pendingWrites(): number {
    return this.inFlight.size;
  }

  /** Refuse new writes; resolves once every write already started has settled (landed or failed). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(key: string, write: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new TelescopeError(`storage closed: "${key}" not written`, { kind: 'cancelled' }));
    const p = write();
    const settled = p.then(() => undefined, () => undefined);
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return p;
  }
}
