/**
 * `npm run bench -- dir-load`: the directory at the public network's size, in Node — the live
 * consensus of 2026-01-29 (9,745 relays, 3.4 MiB) parsed and its nine signatures verified, 9,745
 * microdescriptors parsed (the 450 real ones of that day, repeated, each parsed from its own copy
 * of the text so nothing is shared), the NetDir built; time per step, and the JS heap after a full
 * GC at each step (the figure a service worker's heap follows). Runs itself again under
 * `--expose-gc` for the heap figures; `--cpu-prof` after the name writes a V8 profile of the
 * loading to the current directory.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { parseAuthCerts, parseConsensus, parseMicrodescs, type Microdesc } from '../shared/netdoc/index.ts';
import { buildNetDir } from '../shared/netdir/index.ts';
import { ListInterner } from '../shared/util/index.ts';

const FIXTURES = new URL('../shared/netdoc/fixtures/live-2026-01-29/', import.meta.url);
const NOW = new Date('2026-01-29T07:30:00Z');
const CHILD_FLAG = '--dir-load-child';

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('dir-load needs --expose-gc (bench/run.ts starts it that way)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The measurement itself, in a process started with --expose-gc. */
function measure(): void {
  const base = heap();
  const keep: unknown[] = [];
  const step = (name: string, f: () => unknown) => {
    const t0 = performance.now();
    const value = f();
    const ms = performance.now() - t0;
    keep.push(value);
    console.log(`${name.padEnd(52)}${`${ms.toFixed(0)} ms`.padStart(9)}   heap ${mib(heap() - base).padStart(10)}`);
    return value;
  };
  const text = step('consensus text (latin1, as stored)', () => brotliDecompressSync(readFileSync(new URL('consensus-microdesc.br', FIXTURES))).toString('latin1')) as string;
  const certs = parseAuthCerts(readFileSync(new URL('authority-certs.txt', FIXTURES), 'latin1')).map((c) => c.check(NOW));
  const authorities = certs.map((c) => ({ fingerprint: c.fingerprint }));
  const unverified = step('consensus parsed', () => parseConsensus(text)) as ReturnType<typeof parseConsensus>;
  const consensus = step('nine signatures verified', () => unverified.check(authorities, certs, NOW)) as ReturnType<typeof unverified.check>;
  const sample = brotliDecompressSync(readFileSync(new URL('microdescriptors-sample.br', FIXTURES))).toString('latin1').split(/(?=^onion-key$)/m);
  // Each copy is a distinct string (slice + concat), so the heap holds 9,745 texts as a client would.
  const texts = consensus.routers.map((_, i) => (sample[i % sample.length]! + ' ').slice(0, -1));
  // As DirectoryState keeps them: each family list shared among its members.
  const families = new ListInterner();
  const mds = step(`${texts.length} microdescriptors parsed (the 450 repeated)`, () => texts.map((t) => {
    const md = parseMicrodescs(t)[0]!;
    return { ...md, family: families.share(md.family) };
  })) as Microdesc[];
  texts.length = 0;
  const byDigest = new Map(consensus.routers.map((r, i) => [r.microdescDigestBase64, mds[i]!]));
  const dir = step('NetDir built', () => buildNetDir(consensus, byDigest)) as ReturnType<typeof buildNetDir>;
  console.log(`total heap with consensus text, consensus, microdescriptors and NetDir (${dir.relays.length} relays): ${mib(heap() - base)}; RSS ${mib(process.memoryUsage().rss)}`);
  if (keep.length === 0) throw new Error('nothing measured');
}

export async function benchDirLoad(args: readonly string[] = []): Promise<void> {
  console.log('\n## The directory at full size (live network of 2026-01-29) in Node: time and JS heap after GC');
  const self = fileURLToPath(import.meta.url);
  const flags = ['--expose-gc', '--import', 'tsx', ...(args.includes('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${process.cwd()}`] : [])];
  // From the repository (where tsx resolves); a profile goes where the bench was started.
  const r = spawnSync(process.execPath, [...flags, self, CHILD_FLAG], { stdio: 'inherit', cwd: fileURLToPath(new URL('..', import.meta.url)) });
  if (r.status !== 0) throw new Error(`dir-load child exited with ${r.status ?? r.signal}`);
}

if (process.argv.includes(CHILD_FLAG)) measure();
