import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyValueStore } from '../shared/util/index.ts';
import { UsageError } from '../shared/util/index.ts';

/**
 * The Node host's storage: one file per key in the DataDirectory, written atomically (temp file,
 * then rename) so a crash never leaves half a consensus behind.
 */
export class FileStore implements KeyValueStore {
  private ready: Promise<void> | undefined;
  private writes = 0;
  /** The last write of each key: writes of one key happen in order, never interleaved. */
  private readonly lastWrite = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  private file(key: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new UsageError(`storage key "${key}" is not a plain file name`);
    return join(this.dir, key);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    return this.ready;
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.file(key), 'latin1');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  set(key: string, value: string): Promise<void> {
    const path = this.file(key);
    const previous = this.lastWrite.get(key) ?? Promise.resolve();
    const write = previous.then(async () => {
      await this.ensureDir();
      const tmp = `${path}.tmp-${process.pid}-${++this.writes}`;
      await writeFile(tmp, value, { encoding: 'latin1', mode: 0o600 });
      await rename(tmp, path);
    });
    // The next write waits for this one whether it worked or not; its own caller sees the failure.
    this.lastWrite.set(key, write.catch(() => undefined));
    return write;
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
