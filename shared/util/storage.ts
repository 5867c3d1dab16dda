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
