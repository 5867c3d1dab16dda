/**
 * `npm run bench -- bootstrap`: bootstrapping at the public network's size, on loopback. The scale
 * network (testnet/scale.ts: the live consensus' 9,745 entries re-signed by the private network's
 * authorities, a microdescriptor for each) is served by a relay-bridge from its directory cache;
 * three clients bootstrap through that bridge, the same way, so the figures compare like for like:
 *
 * - the Node client (bench/bootstrap-node.ts, a process of its own): cold (empty DataDirectory →
 *   a circuit built) and warm (restarted on what it stored), bytes read on its links, consensus
 *   parse and verify time, RSS and JS heap with every microdescriptor loaded;
 * - the extension's service worker in Chromium: cold (`telescope.start` with the bridge line and
 *   DirAuthority lines) and warm (the worker stopped as Chromium's idle timer stops it, then woken
 *   by a page; until it reports 100% again), its JS heap sampled through the DevTools protocol
 *   (Runtime.getHeapUsage on the worker target) every 100 ms: the peak, and what stays after GC;
 *   bytes received on its WebSocket links, and the consensus parse and verify and microdescriptor
 *   parse timed in the worker on what it holds (self.telescope.linkBytesRead, benchDirectory);
 * - tor 0.4.9 as a client with the same bridge (UseBridges 1): it also downloads the consensus and
 *   microdescriptors from its bridge, so this is the same work; cold and warm until "Bootstrapped
 *   100%", and its RSS.
 *
 * Goals of issue 13 are printed beside the figures; nothing is asserted on them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import type { CDPSession } from 'playwright-core';
import { TelescopeError } from '../shared/util/index.ts';
import { launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { buildScaleNetwork, writeDirectoryCache, type ScaleNetwork } from '../testnet/scale.ts';
import { stopChild } from '../testnet/stop-child.ts';
import type { Testnet, TestnetDescription } from '../testnet/index.ts';
import { benchTestnet, releaseBenchTestnet } from './testnet.ts';
import type { NodeBootstrapArgs, NodeBootstrapResult } from './bootstrap-node.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BOOTSTRAP_TIMEOUT_MS = 300_000;

/** The bootstrap bench could not run. */
class BootstrapBenchError extends TelescopeError {}

interface WorkerTelescope {
  start(s: { bridges: string[]; authorities: string[] }): Promise<{ percent: number; tag: string; summary: string }>;
  status(): { percent: number };
  fetch(url: string): Promise<{ status: number; sha256: string }>;
  log(): string[];
  linkBytesRead(): number;
  benchDirectory(v3idents: string[]): Promise<{ consensusParseMs: number; consensusVerifyMs: number; microdescParseMs: number }>;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// Node client

function runNodeClient(args: NodeBootstrapArgs): Promise<NodeBootstrapResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', join(ROOT, 'bench/bootstrap-node.ts')], {
      cwd: ROOT,
      env: { ...process.env, BOOTSTRAP_BENCH: JSON.stringify(args) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), BOOTSTRAP_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = /^RESULT (.*)$/m.exec(out);
      if (code === 0 && line) resolve(JSON.parse(line[1]!) as NodeBootstrapResult);
      else reject(new BootstrapBenchError(`the Node client's bootstrap exited ${code}:\n${out.split('\n').slice(-20).join('\n')}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The service worker's heap, through the DevTools protocol

/**
 * Runtime.getHeapUsage on the extension's service-worker target, reached from a page's CDP
 * session (Playwright opens sessions on pages only): attach to the target, then talk to it with
 * Target.sendMessageToTarget.
 */
class WorkerHeap {
  private nextId = 1;
  private readonly waiting = new Map<number, (result: unknown) => void>();
  private sessionId: string | undefined;

  private constructor(private readonly cdp: CDPSession) {
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      const msg = JSON.parse(e.message) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      this.waiting.get(msg.id)?.(msg.error ? new BootstrapBenchError(msg.error.message) : msg.result);
      this.waiting.delete(msg.id);
    });
  }

  static async open(browser: ExtensionBrowser): Promise<WorkerHeap> {
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    return new WorkerHeap(await browser.context.newCDPSession(page));
  }

  /** Attach to the worker target running now (it changes when the worker restarts). */
  private async attach(extensionId: string): Promise<string> {
    const { targetInfos } = await this.cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'service_worker' && t.url.includes(extensionId));
    if (!target) throw new BootstrapBenchError('no service-worker target for the extension');
    const { sessionId } = await this.cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
    return sessionId;
  }

  private async call(extensionId: string, method: string, params: object = {}): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      this.sessionId ??= await this.attach(extensionId);
      const id = this.nextId++;
      const answer = new Promise<unknown>((resolve) => {
        this.waiting.set(id, resolve);
        setTimeout(() => { if (this.waiting.delete(id)) resolve(new BootstrapBenchError(`${method}: no answer`)); }, 5_000);
      });
      try {
        await this.cdp.send('Target.sendMessageToTarget', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) });
      } catch (e) {
        this.waiting.delete(id);
        this.sessionId = undefined; // the worker restarted: attach to the new one
        if (attempt >= 2) throw e;
        continue;
      }
      const result = await answer;
      if (result instanceof Error) throw result;
      return result;
    }
  }

  async usedBytes(extensionId: string): Promise<number> {
    return ((await this.call(extensionId, 'Runtime.getHeapUsage')) as { usedSize: number }).usedSize;
  }

  async usedAfterGc(extensionId: string): Promise<number> {
    await this.call(extensionId, 'HeapProfiler.collectGarbage');
    return this.usedBytes(extensionId);
  }

  forget(): void {
    this.sessionId = undefined;
  }

  /** Sample the heap every 100 ms while `work` runs; the largest sample. */
  async peakDuring<T>(extensionId: string, work: Promise<T>): Promise<{ result: T; peakBytes: number }> {
    let peak = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        try {
          peak = Math.max(peak, await this.usedBytes(extensionId));
        } catch (e) {
          if (!(e instanceof Error)) throw e;
          this.forget(); // between a worker's stop and start there is no target to sample
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      return { result: await work, peakBytes: peak };
    } finally {
      done = true;
      await sampler;
    }
  }
}

interface WorkerFigures {
  coldMs: number;
  warmMs: number;
  peakHeapBytes: number;
  heapAfterGcBytes: number;
  /** Bytes received on the worker's WebSocket links while it bootstrapped. */
  coldLinkBytes: number;
  warmLinkBytes: number;
  /** Parse and verify again, in the worker, of what it holds (extension/bench-directory.ts). */
  consensusParseMs: number;
  consensusVerifyMs: number;
  microdescParseMs: number;
}

async function serviceWorkerFigures(browser: ExtensionBrowser, desc: TestnetDescription, relay: RelayProcess): Promise<WorkerFigures> {
  const heap = await WorkerHeap.open(browser);
  const id = browser.extensionId;
  const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
  let t0 = performance.now();
  const cold = await heap.peakDuring(id, browser.serviceWorker.evaluate((s) => (self as unknown as { telescope: WorkerTelescope }).telescope.start(s), settings));
  const coldMs = performance.now() - t0;
  if (cold.result.percent !== 100) throw new BootstrapBenchError(`the extension stopped at ${cold.result.percent}%: ${cold.result.summary}`);
  const coldLinkBytes = await browser.serviceWorker.evaluate(() => (self as unknown as { telescope: WorkerTelescope }).telescope.linkBytesRead());
  const page = await browser.serviceWorker.evaluate((url) => (self as unknown as { telescope: WorkerTelescope }).telescope.fetch(url), `http://127.0.0.1:${desc.web.port}/hello`);
  if (page.status !== 200 || page.sha256 !== desc.web.paths['/hello'].sha256) throw new BootstrapBenchError(`the extension fetched /hello with status ${page.status}`);
  const heapAfterGcBytes = await heap.usedAfterGc(id);
  const parsing = await browser.serviceWorker.evaluate((v3) => (self as unknown as { telescope: WorkerTelescope }).telescope.benchDirectory(v3), desc.authorities.map((a) => a.v3ident));

  // Warm: stop the worker as Chromium's idle timer does, wake it with a page, wait for 100%.
  const tab = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(tab);
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.stopAllWorkers');
  heap.forget();
  await new Promise((r) => setTimeout(r, 1000));
  t0 = performance.now();
  const warm = await heap.peakDuring(id, (async () => {
    await tab.goto(`chrome-extension://${id}/extension/pages/popup.html`);
    const [worker] = browser.context.serviceWorkers();
    if (!worker) throw new BootstrapBenchError('no service worker after the restart');
    for (;;) {
      const s = await worker.evaluate(() => (self as unknown as { telescope: WorkerTelescope }).telescope.status());
      if (s.percent === 100) return;
      if (performance.now() - t0 > BOOTSTRAP_TIMEOUT_MS) throw new BootstrapBenchError('the restarted worker did not reach 100%');
      await new Promise((r) => setTimeout(r, 50));
    }
  })());
  const warmMs = performance.now() - t0;
  const [worker] = browser.context.serviceWorkers();
  const warmLinkBytes = await worker!.evaluate(() => (self as unknown as { telescope: WorkerTelescope }).telescope.linkBytesRead());
  await cdp.detach();
  await tab.close();
  return {
    coldMs, warmMs, peakHeapBytes: Math.max(cold.peakBytes, warm.peakBytes), heapAfterGcBytes, coldLinkBytes, warmLinkBytes,
    consensusParseMs: parsing.consensusParseMs, consensusVerifyMs: parsing.consensusVerifyMs, microdescParseMs: parsing.microdescParseMs,
  };
}

// ---------------------------------------------------------------------------------------------
// tor 0.4.9 with the same bridge

interface TorFigures {
  coldMs: number;
  warmMs: number;
  rssBytes: number;
}

async function torBootstrap(dir: string, torrc: string): Promise<{ ms: number; rssBytes: number }> {
  const logFile = join(dir, `notice-${Date.now()}.log`);
  const t0 = performance.now();
  const child: ChildProcess = spawn('tor', ['-f', torrc, '--Log', `notice file ${logFile}`], { stdio: 'ignore' });
  try {
    for (;;) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (log.includes('Bootstrapped 100%')) break;
      if (child.exitCode !== null || performance.now() - t0 > BOOTSTRAP_TIMEOUT_MS) {
        throw new BootstrapBenchError(`tor did not bootstrap (${child.exitCode !== null ? `exited ${child.exitCode}` : 'still running'} after ${sec(performance.now() - t0)}):\n${log.split('\n').slice(-8).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const ms = performance.now() - t0;
    const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN);
    return { ms, rssBytes: rssKiB * 1024 };
  } finally {
    await stopChild(child);
  }
}

async function torFigures(desc: TestnetDescription, relay: RelayProcess): Promise<TorFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'telescope-bench-tor-'));
  try {
    await mkdir(join(dir, 'data'), { mode: 0o700 });
    const torrc = join(dir, 'torrc');
    await writeFile(torrc, [
      'TestingTorNetwork 1',
      `DataDirectory ${dir}/data`,
      'RunAsDaemon 0',
      'SocksPort 0',
      'ClientUseIPv6 0',
      'ConfluxEnabled 0',
      'UseBridges 1',
      `Bridge 127.0.0.1:${relay.orPort} ${relay.fingerprint}`,
      `__OwningControllerProcess ${process.pid}`,
      ...desc.authorities.map((a) => a.dirAuthorityLine),
      '',
    ].join('\n'));
    const cold = await torBootstrap(dir, torrc);
    const warm = await torBootstrap(dir, torrc);
    return { coldMs: cold.ms, warmMs: warm.ms, rssBytes: Math.max(cold.rssBytes, warm.rssBytes) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function report(net: ScaleNetwork, cold: NodeBootstrapResult, warm: NodeBootstrapResult, sw: WorkerFigures | Error, tor: TorFigures | Error): void {
  const deflated = (s: string) => deflateRawSync(Buffer.from(s, 'latin1')).length;
  console.log(`\nscale network: ${net.relayCount} relays (${net.liveMicrodescs} live microdescriptors, the rest generated), ${net.realRelays.length} of them the private network's`);
  console.log(`documents: consensus ${mb(net.consensus.length)} (deflate ${mb(deflated(net.consensus))}), microdescriptors ${mb(net.microdescs.length)} (deflate, as one stream ${mb(deflated(net.microdescs))})`);
  const row = (what: string, node: string, worker: string, tor: string, goal: string) =>
    console.log(`${what.padEnd(34)} ${node.padStart(12)} ${worker.padStart(15)} ${tor.padStart(12)}   ${goal}`);
  const swv = (f: (x: WorkerFigures) => string) => (sw instanceof Error ? 'failed' : f(sw));
  const torv = (f: (x: TorFigures) => string) => (tor instanceof Error ? 'failed' : f(tor));
  console.log('');
  row('', 'Node client', 'service worker', 'tor 0.4.9', 'goal (issue 13)');
  row('cold bootstrap (nothing stored)', sec(cold.bootstrapMs), swv((x) => sec(x.coldMs)), torv((x) => sec(x.coldMs)), '< 5 s');
  row('warm restart (stored state)', sec(warm.bootstrapMs), swv((x) => sec(x.warmMs)), torv((x) => sec(x.warmMs)), '< 1 s');
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  row('bytes read on links, cold', mb(cold.linkBytesRead), swv((x) => mb(x.coldLinkBytes)), '-', '');
  row('bytes read on links, warm', mb(warm.linkBytesRead), swv((x) => mb(x.warmLinkBytes)), '-', '');
  row('consensus parse', ms(cold.consensusParseMs), swv((x) => ms(x.consensusParseMs)), '-', '');
  row('consensus verify (3 signatures)', ms(cold.consensusVerifyMs), swv((x) => ms(x.consensusVerifyMs)), '-', '');
  row('microdescriptors parse', ms(cold.microdescParseMs), swv((x) => ms(x.microdescParseMs)), '-', '');
  row('JS heap, everything loaded, GC', mb(cold.heapUsedBytes), swv((x) => mb(x.heapAfterGcBytes)), '-', '< 30 MB (worker)');
  row('peak JS heap', '-', swv((x) => mb(x.peakHeapBytes)), '-', '< 30 MB (worker)');
  row('RSS, everything loaded', mb(cold.rssBytes), '-', torv((x) => mb(x.rssBytes)), '');
  row('peak RSS', mb(Math.max(cold.peakRssBytes, warm.peakRssBytes)), '-', '-', '');
  console.log(`\nNode client phases, cold (ms after start): ${Object.entries(cold.phases).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`Node client phases, warm: ${Object.entries(warm.phases).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (sw instanceof Error) console.log(`service worker: ${sw.message}`);
  if (tor instanceof Error) console.log(`tor: ${tor.message}`);
}

export async function benchBootstrap(): Promise<void> {
  console.log('\n## Bootstrap at full scale (9,745 relays) through a relay-bridge on loopback');
  const extensionDir = join(ROOT, 'dist/extension');
  let testnet: Testnet | undefined;
  let relay: RelayProcess | undefined;
  let browser: ExtensionBrowser | undefined;
  const clientDir = await mkdtemp(join(tmpdir(), 'telescope-bench-bootstrap-'));
  try {
    testnet = await benchTestnet();
    const desc = testnet.description;
    let t = performance.now();
    const net = await buildScaleNetwork(desc);
    console.log(`scale network built in ${sec(performance.now() - t)}`);
    t = performance.now();
    relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'benchscale', (data) => writeDirectoryCache(join(data, 'cache'), net));
    while (!relay.output().includes('using the cached consensus and microdescriptors')) {
      if (performance.now() - t > 120_000) throw new BootstrapBenchError(`the relay-bridge did not load the scale network:\n${relay.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`relay-bridge loaded it in ${sec(performance.now() - t)} (RSS ${mb(relay.rssKiB() * 1024)})`);

    const args: NodeBootstrapArgs = {
      dataDirectory: clientDir,
      authorities: desc.authorities.map((a) => a.dirAuthorityLine),
      bridge: `Bridge 127.0.0.1:${relay.orPort} ${relay.fingerprint}`,
    };
    const cold = await runNodeClient(args);
    const warm = await runNodeClient(args);

    let sw: WorkerFigures | Error;
    try {
      if (!existsSync(join(extensionDir, 'manifest.json'))) throw new BootstrapBenchError(`no built extension at ${extensionDir}: run npm run build`);
      browser = await launchWithExtension(extensionDir);
      sw = await serviceWorkerFigures(browser, desc, relay);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      sw = e;
    }
    let tor: TorFigures | Error;
    try {
      tor = await torFigures(desc, relay);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      tor = e;
    }
    report(net, cold, warm, sw, tor);
    if (sw instanceof Error) throw sw;
    if (tor instanceof Error) throw tor;
  } finally {
    await browser?.close();
    await relay?.stop();
    await rm(clientDir, { recursive: true, force: true });
    await releaseBenchTestnet(testnet);
  }
}
