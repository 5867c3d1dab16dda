/**
 * `npm run bench`: every benchmark, one after another. Later benchmarks (circuits through the
 * private tor network, relay forwarding) print ratios against tor measured in the same run.
 * `npm run bench -- transfer` runs only the named ones. A benchmark that fails (a transfer that
 * broke, a wrong checksum) is reported and makes the exit code non-zero; the others still run.
 */
import { benchRelayCrypto } from './relay-crypto.ts';
import { benchTransfer } from './transfer.ts';
import { benchMiddleRelay } from './middle-relay.ts';
import { benchExtension } from './extension.ts';

const BENCHMARKS: [string, () => Promise<void>][] = [
  ['relay-crypto', benchRelayCrypto],
  ['transfer', benchTransfer],
  ['middle-relay', benchMiddleRelay],
  ['extension', benchExtension],
];

const only = process.argv.slice(2);
let failed = false;
for (const [name, run] of BENCHMARKS) {
  if (only.length > 0 && !only.includes(name)) continue;
  try {
    await run();
  } catch (err) {
    failed = true;
    console.error(`\nbench ${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
// Exit explicitly: a client's sockets or timers left behind by a failed run must not keep the
// process alive after the report.
process.exit(failed ? 1 : 0);
