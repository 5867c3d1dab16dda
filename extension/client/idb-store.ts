import type { KeyValueStore } from '../../shared/util/index.ts';
import { TelescopeError } from '../../shared/util/index.ts';

/**
 * The extension's storage for client state (consensus, certificates, microdescriptors, guards):
 * IndexedDB, which the service worker keeps across restarts (it dies after ~30 s idle), so a
 * restarted worker resumes without a full bootstrap.
 *
 * Size: at the public network's size the directory is a ≈3.5 MB consensus plus several MB to tens
 * of MB of microdescriptors (their family lines dominate), written incrementally by
 * DirectoryStore. That rules out chrome.storage.local (10 MB without the unlimitedStorage
 * permission); IndexedDB falls under the browser's per-origin quota instead (Chromium: a share of
 * the disk, up to 60% for one origin; Firefox: 10% of the disk, at most 10 GiB, per site group),
 * far above it. A write over quota aborts its transaction: `set` then fails with a TelescopeError,
 * the client logs it, and the next save writes everything again.
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
      const tx = db.transaction(this.storeName, mode);
      const req = op(tx.objectStore(this.storeName));
      const failed = (why: DOMException | null) => reject(new TelescopeError(`IndexedDB ${this.storeName}: ${why?.message ?? 'request failed'}`));
      // A write is done when its transaction commits: a quota error aborts the transaction after
      // the request itself succeeded.
      if (mode === 'readonly') req.onsuccess = () => resolve(req.result);
      else tx.oncomplete = () => resolve(req.result);
      req.onerror = () => failed(req.error);
      tx.onabort = () => failed(tx.error ?? req.error);
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
