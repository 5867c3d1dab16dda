/**
 * In-browser figures: the extension built from this tree, in Debian's Chromium, its Tor client in
 * the MV3 service worker reaching the private network through a relay-bridge over WebSocket.
 *
 * 1. tor1 relay crypto of a 3-hop client circuit, measured inside the service worker
 *    (`self.telescope.benchCrypto`), next to the same code run in this Node process, per engine.
 * 2. 1 MiB over HTTP through the extension against tor 0.4.9's client (curl through its SOCKS
 *    port, ConfluxEnabled 0): median time to first body byte and total over N runs (7 by default,
 *    BENCH_RUNS), alternating which client goes first, each run on an isolation key (SOCKS
 *    username for tor) no earlier run used, so both clients take a circuit no earlier transfer used.
 *
 * The extension is built into a temporary folder for the run, so other builds of dist/extension
 * (other engineers, other tests) can neither be disturbed nor change the extension under the bench.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TelescopeError } from '../shared/util/index.ts';
import { launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { curl } from '../testnet/curl.ts';
import type { Testnet, TestnetDescription } from '../testnet/index.ts';
import { benchTestnet, releaseBenchTestnet } from './testnet.ts';
import { benchCrypto, WORKER_ENGINES, type CryptoBenchResult } from '../extension/bench-crypto.ts';
import type { TimedFetchResult } from '../extension/bench-fetch.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const CRYPTO_MEGABYTES = 20;
const PATH = '/bytes/1m' as const;
/** Generous: a stalled transfer should fail the bench, not hang it. */
const FETCH_TIMEOUT_MS = 120_000;
const BOOTSTRAP_TIMEOUT_MS = 180_000;

/** The extension bench could not run or a transfer delivered the wrong body. */
class ExtensionBenchError extends TelescopeError {}

/** What the bench calls on `self.telescope` in the worker (see extension/background.ts). */
interface WorkerTelescope {
  start(s: { bridges: string[]; authorities: string[] }): Promise<{ percent: number; tag: string; summary: string }>;
  benchCrypto(megabytes: number): Promise<CryptoBenchResult>;
  fetchTimed(url: string, isolationKey?: string): Promise<TimedFetchResult>;
  log(): string[];
}

interface Timing {
  readonly ttfbMs: number;
  readonly totalMs: number;
}

function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ExtensionBenchError(`${what}: no answer after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function runs(): number {
  const raw = process.env.BENCH_RUNS ?? '7';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ExtensionBenchError(`BENCH_RUNS=${raw}: expected a positive integer`);
  return n;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Build the extension from this tree into a fresh temporary folder. */
async function buildExtension(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'telescope-bench-extension-'));
  const t0 = performance.now();
  try {
    await execFileP(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    if (!(await readFile(join(out, 'background.js'), 'utf8')).includes('benchCrypto')) {
      throw new ExtensionBenchError('the built background.js has no self.telescope.benchCrypto');
    }
  } catch (err) {
    await rm(out, { recursive: true, force: true });
    throw err;
  }
  console.log(`extension: built into ${out} in ${Math.round(performance.now() - t0)} ms`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Relay crypto

async function cryptoFigures(browser: ExtensionBrowser): Promise<void> {
  console.log(`\n### tor1 relay crypto, 3-hop client circuit, ${CRYPTO_MEGABYTES} MB of relay bodies each way, MB/s`);
  const inWorker = await withTimeout('benchCrypto in the service worker', 300_000, browser.serviceWorker.evaluate((mb) => (self as unknown as { telescope: WorkerTelescope }).telescope.benchCrypto(mb), CRYPTO_MEGABYTES));
  const inNode = await benchCrypto(CRYPTO_MEGABYTES, [...WORKER_ENGINES, { name: 'node:crypto', aes: nodeAesCtr, prefetch: false }]);
  const f = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(1)).padStart(8);
  const r = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '-' : (a / b).toFixed(2)).padStart(8);
  console.log(`${inWorker.cells} cells of 509 bytes; "out" = seal for the exit + 3 layers, "in" = peel until the exit recognizes`);
  console.log('engine                    worker out  worker in   node out   node in   worker/node out   in');
  for (const n of inNode.rows) {
    const w = inWorker.rows.find((x) => x.engine === n.engine);
    console.log(`${n.engine.padEnd(24)}  ${f(w?.outboundMBps)}   ${f(w?.inboundMBps)}   ${f(n.outboundMBps)}  ${f(n.inboundMBps)}          ${r(w?.outboundMBps, n.outboundMBps)} ${r(w?.inboundMBps, n.inboundMBps)}`);
  }
  console.log('(the extension\'s circuits use webCryptoAesCtr, which keeps two batches prefetched; cells arrive as events, so the event loop turns between them as in the "WebCrypto prefetch" row)');
}

// ---------------------------------------------------------------------------------------------
// 2. 1 MiB through the extension and through tor

async function torFetch(desc: TestnetDescription, user: string): Promise<Timing> {
  const url = `http://127.0.0.1:${desc.web.port}${PATH}`;
  // curl's own clock: from the start of the SOCKS connect to the first response byte and to the end.
  const r = await curl(['--http1.0', '-x', `socks5h://${user}:bench@127.0.0.1:${desc.client.socksPort}`, '-w', '%{stderr}\ntiming %{time_starttransfer} %{time_total}\n', url], FETCH_TIMEOUT_MS);
  if (r.code !== 0) throw new ExtensionBenchError(`curl via tor: exit ${r.code}: ${r.stderr.trim()}`);
  const m = /timing ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (!m) throw new ExtensionBenchError(`curl via tor: no timing line in "${r.stderr.trim()}"`);
  checkBody('tor', desc, r.body.length, createHash('sha256').update(r.body).digest('hex'));
  return { ttfbMs: Number(m[1]) * 1000, totalMs: Number(m[2]) * 1000 };
}

function checkBody(client: string, desc: TestnetDescription, length: number, sha256: string): void {
  const want = desc.web.paths[PATH];
  if (length !== want.size || sha256 !== want.sha256) {
    throw new ExtensionBenchError(`${client} GET ${PATH}: ${length} bytes with SHA-256 ${sha256.slice(0, 16)}…, expected ${want.size} with ${want.sha256.slice(0, 16)}…`);
  }
}

async function extensionFetch(browser: ExtensionBrowser, desc: TestnetDescription, key: string): Promise<TimedFetchResult> {
  const url = `http://127.0.0.1:${desc.web.port}${PATH}`;
  const r = await withTimeout('fetchTimed in the service worker', FETCH_TIMEOUT_MS, browser.serviceWorker.evaluate((a) => (self as unknown as { telescope: WorkerTelescope }).telescope.fetchTimed(a.url, a.key), { url, key }));
  if (r.status !== 200) throw new ExtensionBenchError(`extension GET ${PATH}: HTTP status ${r.status}`);
  checkBody('extension', desc, r.length, r.sha256);
  return r;
}

async function transferFigures(browser: ExtensionBrowser, desc: TestnetDescription, relay: RelayProcess): Promise<void> {
  const n = runs();
  console.log(`\n### 1 MiB (${PATH}) through the extension's service worker vs tor ${desc.torVersion}'s client (SOCKS via curl, ConfluxEnabled 0), ${n} runs each`);
  const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
  const t0 = performance.now();
  const status = await withTimeout('bootstrap in the service worker', BOOTSTRAP_TIMEOUT_MS, browser.serviceWorker.evaluate((s) => (self as unknown as { telescope: WorkerTelescope }).telescope.start(s), settings));
  if (status.percent !== 100) throw new ExtensionBenchError(`the extension's client stopped at ${status.percent}% (${status.tag}): ${status.summary}`);
  console.log(`extension: bootstrapped through the relay-bridge in ${Math.round(performance.now() - t0)} ms`);

  // Untimed, one each: the extension's client has only just bootstrapped (its first circuits may
  // still be building), while tor's has been up for the whole network's life.
  await extensionFetch(browser, desc, 'bench-ext-warmup');
  await torFetch(desc, 'bench-ext-warmup');

  const ext: TimedFetchResult[] = [];
  const tor: Timing[] = [];
  const failures: string[] = [];
  for (let run = 0; run < n; run++) {
    const key = `bench-ext-1m-${run}`;
    const order = run % 2 === 0 ? (['extension', 'tor'] as const) : (['tor', 'extension'] as const);
    for (const who of order) {
      try {
        if (who === 'extension') ext.push(await extensionFetch(browser, desc, key));
        else tor.push(await torFetch(desc, key));
      } catch (err) {
        failures.push(`${who} run ${run + 1}: ${(err as Error).message}`);
      }
    }
  }

  const size = desc.web.paths[PATH].size;
  const row = (name: string, xs: readonly Timing[]): Timing | undefined => {
    if (xs.length === 0) return undefined;
    const m = { ttfbMs: median(xs.map((x) => x.ttfbMs)), totalMs: median(xs.map((x) => x.totalMs)) };
    console.log(`${name.padEnd(10)} ${String(xs.length).padStart(5)}  ${m.ttfbMs.toFixed(0).padStart(14)}  ${m.totalMs.toFixed(0).padStart(15)}  ${(size / 1e6 / (m.totalMs / 1000)).toFixed(2).padStart(6)}`);
    return m;
  };
  console.log('\nclient      runs  median TTFB ms  median total ms    MB/s');
  const e = row('extension', ext);
  const t = row('tor', tor);
  if (ext.length > 0) {
    console.log(`extension: median stream open (circuit + BEGIN/CONNECTED) ${median(ext.map((x) => x.connectMs)).toFixed(0)} ms; circuits ${summarize(ext.map((x) => x.circuit.join('→')))}`);
  }
  if (e && t) {
    console.log('\nTelescope-extension/tor (medians; ratio > 1 means the extension is slower):');
    console.log(`ttfb   extension ${e.ttfbMs.toFixed(0)} ms  tor ${t.ttfbMs.toFixed(0)} ms  ratio ${(e.ttfbMs / t.ttfbMs).toFixed(2)}`);
    console.log(`total  extension ${e.totalMs.toFixed(0)} ms  tor ${t.totalMs.toFixed(0)} ms  ratio ${(e.totalMs / t.totalMs).toFixed(2)}`);
  }
  if (failures.length > 0) throw new ExtensionBenchError(`${failures.length} transfer(s) failed:\n  ${failures.join('\n  ')}`);
}

function summarize(paths: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const p of paths) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([p, n]) => `${p} ×${n}`).join(', ');
}

// ---------------------------------------------------------------------------------------------

export async function benchExtension(): Promise<void> {
  console.log('\n## In the browser: the extension\'s service worker (Chromium) vs Node and vs tor 0.4.9');
  const extensionDir = await buildExtension();
  let testnet: Testnet | undefined;
  let browser: ExtensionBrowser | undefined;
  let relay: RelayProcess | undefined;
  try {
    browser = await launchWithExtension(extensionDir);
    console.log(`chromium: ${browser.context.browser()?.version() ?? 'started'}, extension ${browser.extensionId}`);
    // Before any network work, so the crypto loops do not share the CPUs with a bootstrap.
    await cryptoFigures(browser);

    testnet = await benchTestnet();
    const desc = testnet.description;
    relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'benchbridge');
    console.log(`relay-bridge: ${relay.webSocketUrl} (pid ${relay.pid})`);
    try {
      await transferFigures(browser, desc, relay);
    } catch (err) {
      const log = await browser.serviceWorker.evaluate(() => (self as unknown as { telescope: WorkerTelescope }).telescope.log()).catch(() => [] as string[]);
      if (log.length > 0) console.error(`extension log (last ${Math.min(log.length, 30)} lines):\n  ${log.slice(-30).join('\n  ')}`);
      throw err;
    }
  } finally {
    await browser?.close();
    await relay?.stop();
    await rm(extensionDir, { recursive: true, force: true });
    await releaseBenchTestnet(testnet);
  }
}
