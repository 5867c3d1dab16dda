/**
 * `npm run bench`: every benchmark, one after another. Later benchmarks (circuits through the
 * private tor network, relay forwarding) print ratios against tor measured in the same run.
 */
import { benchRelayCrypto } from './relay-crypto.ts';

const BENCHMARKS: [string, () => Promise<void>][] = [['relay-crypto', benchRelayCrypto]];

const only = process.argv.slice(2);
for (const [name, run] of BENCHMARKS) {
  if (only.length > 0 && !only.includes(name)) continue;
  await run();
}
