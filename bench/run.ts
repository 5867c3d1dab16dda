/**
 * `npm run bench`: every benchmark, one after another. Later benchmarks (circuits through the
 * private tor network, relay forwarding) print ratios against tor measured in the same run.
 * `npm run bench -- transfer` runs only the named ones. A benchmark that fails (a transfer that
 * broke, a wrong checksum) is reported and makes the exit code non-zero; the others still run.
 * `soak` (minutes of churn and a flood against one relay-bridge) runs only when named:
 * `npm run bench -- soak [--minutes N]`; options after the names go to the benchmarks. `bootstrap`
 * (the full-size network, bench/bootstrap.ts) and `consdiff` (bench/consdiff.ts) also run only when named.
 */
import { benchRelayCrypto } from './relay-crypto.ts';
import { benchTransfer } from './transfer.ts';
import { benchMiddleRelay } from './middle-relay.ts';
import { benchExtension } from './extension.ts';
import { benchSoak } from './soak.ts';
import { benchDirCompression } from './dir-compression.ts';
import { benchDirLoad } from './dir-load.ts';
import { benchBootstrap } from './bootstrap.ts';
import { benchConsensusDiff } from './consdiff.ts';

/** name, run, and whether a plain `npm run bench` includes it. */
const BENCHMARKS: [string, () => Promise<void>, boolean][] = [
  ['relay-crypto', benchRelayCrypto, true],
  ['transfer', benchTransfer, true],
  ['middle-relay', benchMiddleRelay, true],
  ['extension', benchExtension, true],
  ['dir-compression', benchDirCompression, true],
  ['dir-load', () => benchDirLoad(process.argv.slice(2)), true],
  ['soak', () => benchSoak(process.argv.slice(2)), false],
  ['bootstrap', benchBootstrap, false],
  ['consdiff', benchConsensusDiff, false],
];

const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('--'));
const only = firstOption < 0 ? args : args.slice(0, firstOption);
const unknown = only.filter((name) => !BENCHMARKS.some(([n]) => n === name));
if (unknown.length > 0) {
  console.error(`bench: no benchmark named ${unknown.join(', ')} (there are: ${BENCHMARKS.map(([n]) => n).join(', ')})`);
  process.exit(2);
}
let failed = false;
for (const [name, run, byDefault] of BENCHMARKS) {
  if (only.length > 0 ? !only.includes(name) : !byDefault) continue;
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
