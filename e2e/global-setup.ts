import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { reuseOrStart } from '../testnet/index.ts';

/**
 * One private tor network serves the whole e2e run (it takes a minute or two to come up).
 * TESTNET_DIR picks where it lives (a network already running there is reused), TESTNET_KEEP=1
 * leaves it running afterwards for the next run. Otherwise a network this run starts is owned by
 * this process (vitest's main process): if the run is killed, even with SIGKILL, its tors and web
 * server exit on their own (tor within 15 s) instead of outliving it.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    testnetDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = process.env.TESTNET_DIR ?? join(tmpdir(), 'telescope-e2e-testnet');
  const started = Date.now();
  const keep = process.env.TESTNET_KEEP === '1';
  const net = await reuseOrStart(dir, { log: (line) => console.log(line), timeoutMs: 300_000, ...(keep ? {} : { ownerPid: process.pid }) });
  console.log(`e2e: private tor network ${net.reused ? 'reused' : 'started'} in ${Math.round((Date.now() - started) / 1000)} s (${dir})`);
  project.provide('testnetDir', dir);
  return async () => {
    // A network this run found running belongs to someone else's session: leave it.
    if (keep || net.reused) return;
    await net.stop();
  };
}
