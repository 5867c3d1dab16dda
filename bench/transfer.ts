/**
 * HTTP transfers through the private tor network: Telescope's client (in this process) against
 * tor 0.4.9's client (ConfluxEnabled 0, so one circuit per stream like Telescope), on the same
 * network in the same run. For each body size (and for 1 MiB from the network's onion service,
 * rendezvous included) both clients fetch the same URL N times, alternating
 * which goes first so that neither systematically gets the warmer network. Prints median
 * time-to-first-byte and total time, MB/s, the Telescope/tor ratios, the circuits used and the
 * memory each client needed. Any failed transfer or wrong body fails the benchmark.
 */
import { connect, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TelescopeError } from '../shared/util/index.ts';
import { describeRelay } from '../shared/netdir/index.ts';
import { SocksServer } from '../node-client/socks.ts';
import { SocksClientHandshake } from '../shared/socks/index.ts';
import type { Testnet, TestnetDescription } from '../testnet/index.ts';
import { benchTestnet, releaseBenchTestnet } from './testnet.ts';
import type { WebPath } from '../testnet/web-content.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { createNodeTorClient } from '../node-client/node-client.ts';

const PATHS = ['/bytes/50k', '/bytes/1m', '/bytes/5m'] as const satisfies readonly WebPath[];

/**
 * What each row fetches: the web server through an exit, by size, and the 1 MiB body from the
 * network's tor onion service (descriptor, introduction and rendezvous included in the first run of
 * each client: each run has its own SOCKS username, hence its own rendezvous circuit).
 */
interface Target {
  readonly label: string;
  readonly path: WebPath;
  readonly onion: boolean;
}
const TARGETS: readonly Target[] = [
  ...PATHS.map((path) => ({ label: path.replace('/bytes/', ''), path, onion: false })),
  { label: 'onion 1m', path: '/bytes/1m', onion: true },
];
/** Generous: a stalled transfer should fail the bench, not hang it. */
const FETCH_TIMEOUT_MS = 120_000;
const RSS_SAMPLE_MS = 20;

type ClientName = 'telescope' | 'tor';

interface BenchClient {
  readonly name: ClientName;
  readonly socksPort: number;
  /** Process whose memory the client uses: this process for Telescope, tor's for tor. */
  readonly pid: number;
}

interface Timing {
  readonly ttfbMs: number;
  readonly totalMs: number;
}

interface Sample extends Timing {
  readonly client: ClientName;
  readonly label: string;
}

/** A transfer that did not deliver the expected body. */
class TransferError extends TelescopeError {}

// ---------------------------------------------------------------------------------------------
// A SOCKS5 client with username/password auth (RFC 1928 + RFC 1929) and a timed HTTP/1.0 GET.
// The testnet's socksConnect offers only "no auth"; here the username must reach the server,
// because both tor (IsolateSOCKSAuth) and Telescope isolate streams by it.

/** Bytes read from a socket, consumed front to back by the handshake stages. */
class Inbox {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }
  get bytes(): Buffer {
    return this.buf;
  }
  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

interface FetchRequest {
  readonly socksPort: number;
  readonly user: string;
  /** Host name or address the exit (or the onion service) is asked for, never resolved here. */
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly expect: { readonly size: number; readonly sha256: string };
}

/**
 * GET http://host:port/path through the SOCKS port. Times from the SOCKS TCP connect to
 * the first body byte and to the server's close; the body is hashed as it arrives (rather than
 * buffered) so that the bench itself adds little to the memory it reports.
 */
function timedFetch(req: FetchRequest): Promise<Timing> {
  const target = `${req.host}:${req.port}${req.path}`;
  return new Promise<Timing>((resolve, reject) => {
    const t0 = performance.now();
    const socket: Socket = connect({ host: '127.0.0.1', port: req.socksPort });
    socket.setNoDelay(true);
    const inbox = new Inbox();
    const hash = createHash('sha256');
    // Each fetch authenticates with its own username: the SOCKS port isolates streams by it.
    const socks = new SocksClientHandshake({ host: req.host, port: req.port, auth: { username: new TextEncoder().encode(req.user), password: new TextEncoder().encode('bench') } });
    let stage: 'socks' | 'headers' | 'body' = 'socks';
    let bodyBytes = 0;
    let ttfbMs: number | undefined;
    let settled = false;

    const finish = (err: unknown, timing?: Timing): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err instanceof Error ? err : new TransferError(String(err)));
      else resolve(timing!);
    };
    const timer = setTimeout(() => finish(new TransferError(`GET ${target}: timed out after ${FETCH_TIMEOUT_MS} ms (${bodyBytes} body bytes)`)), FETCH_TIMEOUT_MS);

    const onBody = (chunk: Buffer): void => {
      if (chunk.length === 0) return;
      ttfbMs ??= performance.now() - t0;
      bodyBytes += chunk.length;
      hash.update(chunk);
    };

    /** Advance through the handshake as far as the buffered bytes allow. */
    const step = (): void => {
      while (stage === 'socks') {
        const next = socks.step(inbox.bytes);
        if (next.kind === 'need-more') return;
        inbox.take(next.consumed);
        if (next.kind === 'send') socket.write(next.send);
        else {
          socket.write(`GET ${req.path} HTTP/1.0\r\nHost: ${req.host}:${req.port}\r\nConnection: close\r\n\r\n`);
          stage = 'headers';
        }
      }
      if (stage === 'headers') {
        const end = inbox.bytes.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(inbox.take(end + 4).toString('latin1'))?.[1];
        if (status !== '200') throw new TransferError(`GET ${target}: HTTP status ${status ?? '(unparsable)'}`);
        stage = 'body';
        onBody(inbox.take(inbox.bytes.length));
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (stage === 'body') return onBody(chunk);
      inbox.push(chunk);
      try {
        step();
      } catch (err) {
        finish(err);
      }
    });
    socket.once('end', () => {
      const totalMs = performance.now() - t0;
      if (stage !== 'body') return finish(new TransferError(`GET ${target}: connection closed during the ${stage} stage`));
      const digest = hash.digest('hex');
      if (bodyBytes !== req.expect.size || digest !== req.expect.sha256) {
        return finish(new TransferError(`GET ${target}: body of ${bodyBytes} bytes with SHA-256 ${digest.slice(0, 16)}…, expected ${req.expect.size} bytes with ${req.expect.sha256.slice(0, 16)}…`));
      }
      finish(undefined, { ttfbMs: ttfbMs ?? totalMs, totalMs });
    });
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => socket.write(socks.greeting));
  });
}

// ---------------------------------------------------------------------------------------------
// Memory: VmRSS from /proc, sampled while a client transfers (Linux only).

function rssBytes(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Peak VmRSS of each pid over the periods it was being watched. */
class RssWatch {
  readonly peak = new Map<number, number>();
  readonly before = new Map<number, number>();

  /** Record the current RSS as the baseline, before any transfer. */
  baseline(pid: number): void {
    const rss = rssBytes(pid);
    if (rss !== undefined) this.before.set(pid, rss);
  }

  /** Sample `pid` every RSS_SAMPLE_MS while `work` runs (and once at each end). */
  async during<T>(pid: number, work: () => Promise<T>): Promise<T> {
    const sample = (): void => {
      const rss = rssBytes(pid);
      if (rss !== undefined) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, rss));
    };
    sample();
    const timer = setInterval(sample, RSS_SAMPLE_MS);
    try {
      return await work();
    } finally {
      clearInterval(timer);
      sample();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Circuits. Telescope reports each stream's circuit; tor's client has no ControlPort in the test
// network, so for tor only the relays it holds TCP connections to are visible: its guards, plus
// any relay or authority it fetches directory documents from directly.

/** Nicknames of the relays whose ORPorts `pid` has established TCP connections to. */
function torConnectedRelays(pid: number, desc: TestnetDescription): string[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    }
  } catch {
    return [];
  }
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Columns: sl local rem st ... inode (index 9); st 01 = ESTABLISHED.
    if (f[3] === '01' && f[9] !== undefined && inodes.has(f[9])) ports.add(parseInt(f[2]?.split(':')[1] ?? '', 16));
  }
  return desc.relays.filter((r) => ports.has(r.orPort)).map((r) => r.nickname);
}

/** "a→b→c ×3, d→e→f ×2": distinct paths with how often each carried a transfer. */
function summarizePaths(paths: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const p of paths) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([p, n]) => `${p} ×${n}`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Telescope in this process

interface TelescopeHandle {
  readonly socksPort: number;
  /** Circuit path of the most recent stream the SOCKS port opened. */
  lastPath(): string | undefined;
  close(): Promise<void>;
}

async function startTelescope(desc: TestnetDescription): Promise<TelescopeHandle> {
  const dataDir = await mkdtemp(join(tmpdir(), 'telescope-bench-client-'));
  const authorities = authoritiesOf(desc);
  const client = createNodeTorClient({
    dataDirectory: dataDir,
    authorities,
    // Every relay of the test network is on 127.0.0.1, i.e. in one /16.
    rules: { enforceDistinctSubnets: false },
  });
  let last: string | undefined;
  const socks = new SocksServer({
    connect: async (host, port, key) => {
      const { stream, circuit } = await client.connect(host, port, { isolationKey: key });
      last = circuit.path.map(describeRelay).join('→');
      return stream;
    },
    resolve: (host, key) => client.resolve(host, { isolationKey: key }),
  });
  const close = async (): Promise<void> => {
    await client.close();
    await socks.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const socksPort = await socks.listen(0, '127.0.0.1');
    const t0 = performance.now();
    await client.bootstrap();
    console.log(`telescope: bootstrapped in ${Math.round(performance.now() - t0)} ms, SOCKS on 127.0.0.1:${socksPort}`);
    return { socksPort, lastPath: () => last, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;

function printResults(samples: readonly Sample[], desc: TestnetDescription): void {
  console.log('\npath      client      runs  median TTFB ms  median total ms    MB/s');
  const ratios: string[] = [];
  for (const { label, path } of TARGETS) {
    const size = desc.web.paths[path].size;
    const med: Partial<Record<ClientName, Timing>> = {};
    for (const client of ['telescope', 'tor'] as const) {
      const mine = samples.filter((s) => s.label === label && s.client === client);
      if (mine.length === 0) continue;
      const m = { ttfbMs: median(mine.map((s) => s.ttfbMs)), totalMs: median(mine.map((s) => s.totalMs)) };
      med[client] = m;
      const mbps = size / 1e6 / (m.totalMs / 1000);
      console.log(`${label.padEnd(9)} ${client.padEnd(10)} ${String(mine.length).padStart(5)}  ${m.ttfbMs.toFixed(0).padStart(14)}  ${m.totalMs.toFixed(0).padStart(15)}  ${mbps.toFixed(2).padStart(6)}`);
    }
    const { telescope, tor } = med;
    if (!telescope || !tor) continue;
    const target = label;
    for (const key of ['ttfbMs', 'totalMs'] as const) {
      const label = key === 'ttfbMs' ? 'ttfb ' : 'total';
      ratios.push(`${target.padEnd(9)} ${label}  telescope ${telescope[key].toFixed(0)} ms  tor ${tor[key].toFixed(0)} ms  ratio ${(telescope[key] / tor[key]).toFixed(2)}`);
    }
  }
  console.log('\nTelescope/tor (medians; ratio > 1 means Telescope is slower):');
  for (const line of ratios) console.log(line);
}

function printMemory(rss: RssWatch, telescopePid: number, torPid: number): void {
  const line = (pid: number): string => {
    const peak = rss.peak.get(pid);
    const before = rss.before.get(pid);
    return peak === undefined ? 'not measurable (no /proc)' : `peak RSS ${mb(peak)} during its transfers (${before === undefined ? '?' : mb(before)} before)`;
  };
  console.log(`memory: telescope (this process, bench harness included) ${line(telescopePid)}; tor client (pid ${torPid}) ${line(torPid)}`);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

function runsPerPath(): number {
  const raw = process.env.BENCH_RUNS ?? '5';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new TransferError(`BENCH_RUNS=${raw}: expected a positive integer`);
  return n;
}

/**
 * Fetch every path N times through both clients. Failures are collected, not thrown, so one bad
 * transfer still leaves the rest of the table to look at; the caller fails the bench on any.
 */
async function measure(
  desc: TestnetDescription,
  clients: readonly [BenchClient, BenchClient],
  telescope: TelescopeHandle,
  rss: RssWatch,
): Promise<{ samples: Sample[]; failures: string[]; telescopePaths: string[] }> {
  const samples: Sample[] = [];
  const failures: string[] = [];
  const telescopePaths: string[] = [];
  const runs = runsPerPath();
  for (const { label, path, onion } of TARGETS) {
    for (let run = 0; run < runs; run++) {
      // Alternate the order so neither client always runs right after the other's transfer.
      const order = run % 2 === 0 ? clients : ([clients[1], clients[0]] as const);
      // One username per (path, run): both clients isolate by it, so each run is a new stream on
      // a circuit no earlier run used, the same rule for both.
      const user = `bench-${label.replace(' ', '-')}-${run}`;
      for (const c of order) {
        try {
          const timing = await rss.during(c.pid, () =>
            timedFetch({ socksPort: c.socksPort, user, host: onion ? desc.onionService.address : '127.0.0.1', port: onion ? desc.onionService.port : desc.web.port, path, expect: desc.web.paths[path] }),
          );
          samples.push({ client: c.name, label, ...timing });
          if (c.name === 'telescope') telescopePaths.push(telescope.lastPath() ?? '?');
        } catch (err) {
          failures.push(`${c.name} ${label} run ${run + 1}: ${(err as Error).message}`);
        }
      }
    }
    process.stdout.write(`transfer: ${label} done (${runs} runs per client)\n`);
  }
  return { samples, failures, telescopePaths };
}

export async function benchTransfer(): Promise<void> {
  console.log('\n## HTTP transfers over the private tor network: Telescope client vs tor 0.4.9 client (ConfluxEnabled 0)');
  const testnet: Testnet = await benchTestnet();
  let telescope: TelescopeHandle | undefined;
  try {
    const desc = testnet.description;
    const torProcess = desc.processes.find((p) => p.nickname === desc.client.nickname);
    if (!torProcess) throw new TransferError(`the testnet description lists no process for the client ${desc.client.nickname}`);
    telescope = await startTelescope(desc);
    const clients = [
      { name: 'telescope', socksPort: telescope.socksPort, pid: process.pid },
      { name: 'tor', socksPort: desc.client.socksPort, pid: torProcess.pid },
    ] as const satisfies readonly [BenchClient, BenchClient];
    const rss = new RssWatch();
    for (const c of clients) rss.baseline(c.pid);

    const { samples, failures, telescopePaths } = await measure(desc, clients, telescope, rss);
    printResults(samples, desc);
    const torLinks = torConnectedRelays(torProcess.pid, desc);
    console.log(`circuits: telescope ${summarizePaths(telescopePaths) || '(none)'}; tor: OR connections to ${torLinks.join(', ') || '(none seen)'} (its guards and directory sources; no ControlPort, so not its circuits)`);
    printMemory(rss, process.pid, torProcess.pid);
    if (failures.length > 0) {
      throw new TransferError(`${failures.length} transfer(s) failed:\n  ${failures.join('\n  ')}`);
    }
  } finally {
    await telescope?.close();
    await releaseBenchTestnet(testnet);
  }
}
