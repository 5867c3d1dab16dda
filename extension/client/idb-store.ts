import type { KeyValueStore } from '../../shared/util/index.ts';
import { TelescopeError } from '../../shared/util/index.ts';

/**
 * The extension's storage for client state (consensus, certificates, microdescriptors, guards):
 * IndexedDB, which the service worker keeps across restarts (it dies after ~30 s idle), so a
 * restarted worker resumes without a full bootstrap.
 */
export class IdbStore implements KeyValueStore {
  private db: Promise<IDBDatabase> | undefined;

  constructor(private readonly name = 'telescope', private readonly storeName = 'state') {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(this.storeName);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new TelescopeError(`IndexedDB ${this.name}: ${req.error?.message ?? 'cannot open'}`));
    });
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const req = op(db.transaction(this.storeName, mode).objectStore(this.storeName));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new TelescopeError(`IndexedDB ${this.storeName}: ${req.error?.message ?? 'request failed'}`));
    });
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.run('readonly', (s) => s.get(key) as IDBRequest<unknown>);
    return typeof v === 'string' ? v : undefined;
  }

  async set(key: string, value: string): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }
}
