import { isMainThread } from 'node:worker_threads';
import { whenParentGone } from '../node-platform/process-watch.ts';

/**
 * Setup file of the e2e project: a test worker (a child process of vitest's main process) ends
 * when the main process is gone. Killed with SIGKILL, the main process runs no teardown, and its
 * workers were seen to carry on as orphans, keeping their relays, tor clients and Chromium alive
 * (tor clients own up to the worker; see testnet/tor-process.ts). The network itself is owned by the main
 * process (global-setup.ts).
 */
const key = Symbol.for('telescope.e2e.worker-lifeline');
const registry = globalThis as { [key]?: true };
// Only in a forked worker: in a worker thread the process is vitest's main process itself.
if (isMainThread && !registry[key]) {
  registry[key] = true;
  whenParentGone((why) => {
    console.error(`e2e worker ${process.pid}: vitest's main process is gone (${why}); exiting`);
    process.exit(1);
  });
}
