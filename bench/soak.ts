/**
 * `npm run bench -- soak [--minutes N] [--interval SECONDS] [--out FILE.svg]`: one relay-bridge
 * process (started as an operator starts it) in the private network, N minutes (default 5) of
 * honest circuit and stream churn while one client floods it, with the relay's resident memory and
 * open descriptors sampled every few seconds. It prints the samples as a table, draws them in an
 * SVG, and says whether both are flat after warm-up (least-squares slope over the second half) and
 * how many honest operations failed.
 *
 * Honest clients: three Telescope clients that reach the bridge over its WebSocket port (as the
 * extension does) and fetch through 3-hop circuits, four streams per circuit, then tear the circuit
 * down; and one tor 0.4.9 client using the bridge as its bridge over the TLS ORPort, with
 * MaxCircuitDirtiness 10 s so it keeps building new circuits. Every body is checked by SHA-256.
 * Each comes from a loopback address of its own (127.0.0.11-14).
 *
 * The flooder is a process of its own (this file run as a script with --flood), so its busy loop
 * does not slow the honest clients' event loop: from source address 127.0.0.66 (all of 127/8 is
 * loopback on Linux) it opens WebSocket channels and creates circuits on them as fast as the
 * bridge lets it, keeping at most FLOOD_OPEN_PER_CHANNEL open per channel (oldest destroyed first)
 * and reconnecting whenever the bridge closes a channel.
 *
 * TESTNET_DIR picks a running network to use (left running); without it a network is started in a
 * temporary directory, owned by this process, and stopped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { fromBase64, fromHex } from '../shared/bytes/index.ts';
import { Channel, WebSocketTransport, type WebSocketConstructor } from '../shared/channel/index.ts';
import { Circuit } from '../shared/circuit/index.ts';
import { TelescopeError, UsageError, MemoryStore } from '../shared/util/index.ts';
import { TorClient } from '../shared/client/index.ts';
import { readResponse } from '../shared/http/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { reuseOrStart, type Testnet, type TestnetDescription } from '../testnet/index.ts';
import { httpGetViaSocks } from '../testnet/socks.ts';
import { isProcessAlive, whenProcessGone } from '../node-platform/process-watch.ts';
import type { WebPath } from '../testnet/web-content.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { startTorClient, type TorClientProcess } from '../testnet/tor-process.ts';

/** The flooder's own loopback source address, so per-address defences can tell it apart. */
const FLOOD_ADDRESS = '127.0.0.66';
/**
 * Each honest client has a source address of its own too, and none is 127.0.0.1: the network's
 * relays all live there, and the bridge exempts relay addresses from its DoS defences, so a client
 * there would be measured without the defences that an honest client on the Internet meets.
 */
const TELESCOPE_ADDRESSES = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
const TOR_CLIENT_ADDRESS = '127.0.0.14';
const FLOOD_CHANNELS = 4;
const FLOOD_OPEN_PER_CHANNEL = 100;
/** Circuit creations in flight per flood channel. */
const FLOOD_CONCURRENCY = 16;
/** A CREATE the bridge leaves unanswered this long ends the flood channel (a new one follows). */
const FLOOD_CREATE_TIMEOUT_MS = 10_000;
const STREAMS_PER_CIRCUIT = 4;
/** An honest operation that takes longer than this counts as failed. */
const OPERATION_TIMEOUT_MS = 60_000;
/** Pause between one honest client's operations (they are churn, not a throughput test). */
const OPERATION_GAP_MS = 250;
const HONEST_PATHS: readonly WebPath[] = ['/hello', '/bytes/50k'];

/** The soak found something wrong with its own set-up (not a measurement). */
class SoakError extends TelescopeError {}

interface SoakOptions {
  readonly minutes: number;
  readonly intervalSeconds: number;
  readonly out: string;
}

function parseOptions(args: readonly string[]): SoakOptions {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const number = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`soak: ${name} ${JSON.stringify(raw)}: expected a positive number`);
    return n;
  };
  return {
    minutes: number('--minutes', 5),
    intervalSeconds: number('--interval', 5),
    out: value('--out') ?? join(tmpdir(), `telescope-soak-${new Date().toISOString().replace(/[:.]/g, '-')}.svg`),
  };
}

// ---------------------------------------------------------------------------------------------
// Sampling the relay process

interface Sample {
  readonly seconds: number;
  readonly rssMiB: number;
  readonly fds: number;
  readonly honestOk: number;
  readonly honestFailed: number;
  readonly flood: FloodStats;
}

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new SoakError(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/**
 * What the relay's descriptors are, to judge a change in their number: TCP connections to the
 * network's relays (one channel per next hop: bounded by the network's size), from clients (to its
 * own ports), listeners, and everything else (files, pipes, epoll, eventfds).
 */
function describeFds(pid: number, ownPorts: ReadonlySet<number>, relayPorts: ReadonlySet<number>): string {
  const inodes = new Set<string>();
  let total = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    total++;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // Closed while we looked.
    }
  }
  let toRelays = 0;
  let fromClients = 0;
  let listening = 0;
  let otherTcp = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // Columns: sl local remote state ... inode (index 9); state 0A = LISTEN.
      const f = line.trim().split(/\s+/);
      if (f[9] === undefined || !inodes.has(f[9])) continue;
      const port = (addr: string | undefined): number => parseInt(addr?.split(':')[1] ?? '', 16);
      if (f[3] === '0A') listening++;
      else if (relayPorts.has(port(f[2]))) toRelays++;
      else if (ownPorts.has(port(f[1]))) fromClients++;
      else otherTcp++;
    }
  }
  const sockets = toRelays + fromClients + listening + otherTcp;
  return `${total} = ${toRelays} to relays, ${fromClients} from clients, ${listening} listening, ${otherTcp} other TCP, ${total - sockets} not TCP (files, pipes, epoll, UDP)`;
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

interface Trend {
  /** Change per minute over the second half. */
  readonly perMinute: number;
  /** What that slope adds up to over the second half. */
  readonly overSecondHalf: number;
  readonly mean: number;
  readonly flat: boolean;
}

/**
 * Flat: over the second half the fitted line rises by less than `relative` of the mean level, or
 * by less than `absolute` (small levels jitter by whole units).
 */
function trend(samples: readonly Sample[], pick: (s: Sample) => number, relative: number, absolute: number): Trend {
  const half = samples.slice(Math.floor(samples.length / 2));
  const xs = half.map((s) => s.seconds / 60);
  const ys = half.map(pick);
  const perMinute = slope(xs, ys);
  const span = (xs[xs.length - 1] ?? 0) - (xs[0] ?? 0);
  const overSecondHalf = perMinute * span;
  const mean = ys.reduce((a, b) => a + b, 0) / Math.max(ys.length, 1);
  return { perMinute, overSecondHalf, mean, flat: overSecondHalf < Math.max(relative * mean, absolute) };
}

// ---------------------------------------------------------------------------------------------
// The chart: RSS (left axis) and descriptors (right axis) over time, warm-up shaded.

function svgChart(samples: readonly Sample[], title: string): string {
  const W = 760;
  const H = 320;
  const m = { left: 60, right: 60, top: 36, bottom: 44 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const tMax = Math.max(...samples.map((s) => s.seconds), 1);
  const niceMax = (v: number): number => {
    const p = 10 ** Math.floor(Math.log10(Math.max(v, 1)));
    return Math.ceil((v * 1.1) / p) * p;
  };
  const rMax = niceMax(Math.max(...samples.map((s) => s.rssMiB)));
  const fMax = niceMax(Math.max(...samples.map((s) => s.fds)));
  const x = (t: number): number => m.left + (t / tMax) * pw;
  const yR = (v: number): number => m.top + ph - (v / rMax) * ph;
  const yF = (v: number): number => m.top + ph - (v / fMax) * ph;
  const line = (y: (s: Sample) => number): string => samples.map((s) => `${x(s.seconds).toFixed(1)},${y(s).toFixed(1)}`).join(' ');
  const warmEnd = samples[Math.floor(samples.length / 2)]?.seconds ?? 0;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${title}</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${(x(warmEnd) - m.left).toFixed(1)}" height="${ph}" fill="#f2f2f2"/>`,
    `<text x="${m.left + 4}" y="${m.top + 12}" fill="#888">warm-up</text>`,
    `<line x1="${m.left + pw - 190}" x2="${m.left + pw - 170}" y1="${m.top + 10}" y2="${m.top + 10}" stroke="#1f60c4" stroke-width="2"/>`,
    `<text x="${m.left + pw - 165}" y="${m.top + 14}">RSS</text>`,
    `<line x1="${m.left + pw - 120}" x2="${m.left + pw - 100}" y1="${m.top + 10}" y2="${m.top + 10}" stroke="#c4461f" stroke-width="2"/>`,
    `<text x="${m.left + pw - 95}" y="${m.top + 14}">open descriptors</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = m.top + (ph * i) / 4;
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    const tick = (max: number): string => String(Number(((max * (4 - i)) / 4).toFixed(1)));
    parts.push(`<text x="${m.left - 6}" y="${y + 4}" text-anchor="end" fill="#1f60c4">${tick(rMax)}</text>`);
    parts.push(`<text x="${m.left + pw + 6}" y="${y + 4}" fill="#c4461f">${tick(fMax)}</text>`);
  }
  const minutes = tMax / 60;
  const step = minutes > 10 ? 2 : minutes > 4 ? 1 : 0.5;
  for (let t = 0; t <= minutes + 1e-9; t += step) {
    parts.push(`<text x="${x(t * 60).toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(
    `<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#444"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle">minutes</text>`,
    `<text x="16" y="${m.top + ph / 2}" transform="rotate(-90 16 ${m.top + ph / 2})" text-anchor="middle" fill="#1f60c4">RSS (MiB)</text>`,
    `<text x="${W - 14}" y="${m.top + ph / 2}" transform="rotate(90 ${W - 14} ${m.top + ph / 2})" text-anchor="middle" fill="#c4461f">open descriptors</text>`,
    `<polyline fill="none" stroke="#1f60c4" stroke-width="2" points="${line((s) => yR(s.rssMiB))}"/>`,
    `<polyline fill="none" stroke="#c4461f" stroke-width="2" points="${line((s) => yF(s.fds))}"/>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Honest clients

interface Tally {
  ok: number;
  failed: number;
  readonly failures: string[];
}

function recordFailure(tally: Tally, who: string, err: unknown): void {
  tally.failed++;
  // Keep the first few reasons; the count says the rest.
  if (tally.failures.length < 20) tally.failures.push(`${who}: ${err instanceof Error ? err.message : String(err)}`);
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SoakError(`${what}: no answer within ${OPERATION_TIMEOUT_MS / 1000} s`)), OPERATION_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `ws`'s WebSocket with its connections made from `address`. */
function webSocketFrom(address: string): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { localAddress: address });
    }
  } as unknown as WebSocketConstructor;
}

function telescopeClient(desc: TestnetDescription, relay: RelayProcess, address: string): TorClient {
  const BoundWebSocket = webSocketFrom(address);
  return new TorClient({
    authorities: authoritiesOf(desc),
    transports: (t) => (t.port === relay.orPort
      ? WebSocketTransport.connect(relay.webSocketUrl, { WebSocket: BoundWebSocket })
      : tlsTransportFactory(t)),
    store: new MemoryStore(),
    bridges: [{ address: '127.0.0.1', port: relay.orPort, fingerprint: relay.fingerprint, ntorOnionKey: fromBase64(relay.ntorKey) }],
    rules: { enforceDistinctSubnets: false },
  });
}

/**
 * One Telescope client's churn until `until`: a circuit (its own isolation key) carries
 * STREAMS_PER_CIRCUIT GETs one after another, then is destroyed, and the next one is built.
 */
async function telescopeChurn(name: string, client: TorClient, desc: TestnetDescription, until: number, tally: Tally): Promise<void> {
  let round = 0;
  while (Date.now() < until) {
    const key = `${name}-${round++}`;
    let circuit: Circuit | undefined;
    for (let s = 0; s < STREAMS_PER_CIRCUIT && Date.now() < until; s++) {
      const path = HONEST_PATHS[s % HONEST_PATHS.length]!;
      try {
        const body = await withTimeout(
          (async () => {
            const opened = await client.connect('127.0.0.1', desc.web.port, { isolationKey: key });
            circuit = opened.circuit.circuit;
            await opened.stream.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\n\r\n`));
            return (await readResponse(opened.stream)).body;
          })(),
          `${name} GET ${path}`,
        );
        if (sha256(body) !== desc.web.paths[path].sha256) throw new SoakError(`GET ${path}: ${body.length} bytes with the wrong SHA-256`);
        tally.ok++;
      } catch (err) {
        recordFailure(tally, name, err);
      }
      await sleep(OPERATION_GAP_MS);
    }
    circuit?.destroy();
  }
}

/** The tor client's churn: GETs through its SOCKS port; tor itself changes circuits every 10 s. */
async function torChurn(tor: TorClientProcess, desc: TestnetDescription, until: number, tally: Tally): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    const path = HONEST_PATHS[i % HONEST_PATHS.length]!;
    try {
      const res = await httpGetViaSocks({ socksPort: tor.socksPort, host: '127.0.0.1', port: desc.web.port, path, timeoutMs: OPERATION_TIMEOUT_MS });
      if (res.status !== 200 || sha256(res.body) !== desc.web.paths[path].sha256) throw new SoakError(`GET ${path}: status ${res.status}, wrong body`);
      tally.ok++;
    } catch (err) {
      recordFailure(tally, 'tor client', err);
    }
    await sleep(OPERATION_GAP_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// The flooder (a process of its own)

interface FloodStats {
  readonly channels: number;
  readonly created: number;
  readonly refused: number;
}

const NO_FLOOD: FloodStats = { channels: 0, created: 0, refused: 0 };

/** Run as `node --import tsx bench/soak.ts --flood URL FINGERPRINT NTOR --owner-pid PID`. */
async function floodMain(args: readonly string[]): Promise<void> {
  const [url, fingerprint, ntor] = args;
  const owner = Number(args[args.indexOf('--owner-pid') + 1]);
  if (!url || !fingerprint || !ntor || !Number.isInteger(owner)) throw new UsageError('soak --flood URL FINGERPRINT NTOR --owner-pid PID');
  // Never outlive the bench, even if it is SIGKILLed.
  whenProcessGone(owner, () => process.exit(0));
  const target = { rsaIdentity: fromHex(fingerprint), ntorOnionKey: fromBase64(ntor) };
  const BoundWebSocket = webSocketFrom(FLOOD_ADDRESS);
  const stats = { channels: 0, created: 0, refused: 0 };
  setInterval(() => process.stdout.write(`${JSON.stringify(stats)}\n`), 1000);
  const floodOne = async (): Promise<void> => {
    for (;;) {
      let channel: Channel | undefined;
      try {
        const transport = await WebSocketTransport.connect(url, { WebSocket: BoundWebSocket, timeoutMs: 10_000 });
        channel = await Channel.open(transport, { expected: { rsaIdentity: target.rsaIdentity } });
        stats.channels++;
        const open: Circuit[] = [];
        let closed = false;
        channel.onClose(() => (closed = true));
        const worker = async (): Promise<void> => {
          while (!closed) {
            try {
              // Circuit.create has no deadline of its own; the channel's close ends what is pending.
              let timer: NodeJS.Timeout | undefined;
              const created = await Promise.race([
                Circuit.create(channel!, target),
                new Promise<never>((_, reject) => {
                  timer = setTimeout(() => {
                    channel!.close();
                    reject(new SoakError(`no CREATED2 within ${FLOOD_CREATE_TIMEOUT_MS} ms`));
                  }, FLOOD_CREATE_TIMEOUT_MS);
                }),
              ]).finally(() => clearTimeout(timer));
              open.push(created);
              stats.created++;
              while (open.length > FLOOD_OPEN_PER_CHANNEL) open.shift()!.destroy();
            } catch {
              // Refused (DESTROY, RESOURCELIMIT) or the channel went: both are the bridge defending
              // itself, which is what is being counted.
              stats.refused++;
              if (!closed) await sleep(10);
            }
          }
        };
        await Promise.all(Array.from({ length: FLOOD_CONCURRENCY }, worker));
      } catch {
        stats.refused++;
      } finally {
        channel?.close();
      }
      await sleep(100);
    }
  };
  await Promise.all(Array.from({ length: FLOOD_CHANNELS }, floodOne));
}

interface Flooder {
  latest(): FloodStats;
  stop(): Promise<void>;
}

function startFlooder(relay: RelayProcess): Flooder {
  const script = fileURLToPath(import.meta.url);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, '--flood', relay.webSocketUrl, relay.fingerprint, relay.ntorKey, '--owner-pid', String(process.pid)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let latest = NO_FLOOD;
  let pending = '';
  let errors = '';
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    const last = lines.filter(Boolean).pop();
    if (last) latest = JSON.parse(last) as FloodStats;
  });
  child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    latest: () => {
      if (child.exitCode !== null) throw new SoakError(`the flooder exited (${child.exitCode}):\n${errors}`);
      return latest;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The benchmark

export async function benchSoak(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  const opts = parseOptions(args);
  console.log(`\n## Soak: one relay-bridge process, ${opts.minutes} min of honest circuit/stream churn while ${FLOOD_ADDRESS} floods it with circuits`);
  if (process.platform !== 'linux') throw new SoakError('the soak samples /proc: Linux only');
  const shared = process.env.TESTNET_DIR;
  const ownDir = shared ? undefined : await mkdtemp(join(tmpdir(), 'telescope-soak-testnet-'));
  const testnet: Testnet = await reuseOrStart(shared ?? ownDir!, { log: (l) => console.log(l), ...(shared ? {} : { ownerPid: process.pid }) });
  const desc = testnet.description;
  let relay: RelayProcess | undefined;
  let tor: TorClientProcess | undefined;
  let flooder: Flooder | undefined;
  const clients: TorClient[] = [];
  try {
    relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'telescopesoak');
    console.log(`soak: relay-bridge pid ${relay.pid}, ${relay.webSocketUrl}, ORPort ${relay.orPort}`);
    for (const address of TELESCOPE_ADDRESSES) clients.push(telescopeClient(desc, relay, address));
    await Promise.all(clients.map((c) => c.bootstrap()));
    tor = await startTorClient(desc, ['UseBridges 1', `Bridge 127.0.0.1:${relay.orPort} ${relay.fingerprint}`, 'MaxCircuitDirtiness 10', `OutboundBindAddress ${TOR_CLIENT_ADDRESS}`]);
    console.log(`soak: ${TELESCOPE_ADDRESSES.length} Telescope clients (WebSocket, from ${TELESCOPE_ADDRESSES.join(', ')}) and a tor client (TLS, from ${TOR_CLIENT_ADDRESS}) bootstrapped through the bridge`);
    const relayPid = relay.pid;
    const ownPorts = new Set([relay.orPort, relay.webSocketPort]);
    const relayPorts = new Set([...desc.relays, ...desc.authorities].map((r) => r.orPort));
    const fdsAtStart = describeFds(relayPid, ownPorts, relayPorts);

    const tally: Tally = { ok: 0, failed: 0, failures: [] };
    const t0 = Date.now();
    const until = t0 + opts.minutes * 60_000;
    flooder = startFlooder(relay);
    const samples: Sample[] = [];
    const sample = (): void => {
      samples.push({ seconds: (Date.now() - t0) / 1000, rssMiB: rssMiB(relayPid), fds: openFds(relayPid), honestOk: tally.ok, honestFailed: tally.failed, flood: flooder!.latest() });
      const s = samples[samples.length - 1]!;
      console.log(`${s.seconds.toFixed(0).padStart(5)} s  RSS ${s.rssMiB.toFixed(1).padStart(6)} MiB  fds ${String(s.fds).padStart(5)}  honest ok ${String(s.honestOk).padStart(5)} failed ${String(s.honestFailed).padStart(4)}  flood: ${s.flood.created} circuits created, ${s.flood.refused} refused, ${s.flood.channels} channels`);
    };
    console.log('\n    t  relay RSS          relay fds   honest operations       flood');
    sample();
    const sampler = setInterval(() => {
      try {
        sample();
      } catch (err) {
        // The relay process is gone (or the flooder): stop sampling; the check below says why.
        clearInterval(sampler);
        recordFailure(tally, 'sampler', err);
      }
    }, opts.intervalSeconds * 1000);
    try {
      await Promise.all([
        ...clients.map((c, i) => telescopeChurn(`telescope-${i + 1}`, c, desc, until, tally)),
        torChurn(tor, desc, until, tally),
      ]);
    } finally {
      clearInterval(sampler);
    }
    if (!isProcessAlive(relayPid)) throw new SoakError(`the relay process exited during the soak:\n${relay.output().slice(-3000)}`);
    const fdsAtEnd = describeFds(relayPid, ownPorts, relayPorts);
    const flood = flooder.latest();
    await flooder.stop();
    sample();

    const rss = trend(samples, (s) => s.rssMiB, 0.05, 4);
    const fds = trend(samples, (s) => s.fds, 0.1, 5);
    const svg = svgChart(samples, `relay-bridge under soak: ${opts.minutes} min, honest churn + a circuit flood from ${FLOOD_ADDRESS}`);
    writeFileSync(opts.out, svg);
    const total = tally.ok + tally.failed;
    const sign = (v: number): string => (v >= 0 ? `+${v.toFixed(2)}` : v.toFixed(2));
    console.log(`\nsoak: chart of RSS and open descriptors: ${opts.out}`);
    console.log(`soak: RSS after warm-up: ${sign(rss.perMinute)} MiB/min (${sign(rss.overSecondHalf)} MiB over the second half, mean ${rss.mean.toFixed(1)} MiB): ${rss.flat ? 'flat' : 'GROWING'}`);
    console.log(`soak: open descriptors after warm-up: ${sign(fds.perMinute)}/min (${sign(fds.overSecondHalf)} over the second half, mean ${fds.mean.toFixed(0)}): ${fds.flat ? 'flat' : 'GROWING'}`);
    console.log(`soak: descriptors before the churn: ${fdsAtStart}`);
    console.log(`soak: descriptors at the end (flood still on): ${fdsAtEnd}`);
    console.log(`soak: honest operations: ${tally.ok} of ${total} succeeded, ${tally.failed} failed (${total ? ((100 * tally.failed) / total).toFixed(1) : '0'}%)`);
    for (const f of tally.failures) console.log(`  failed: ${f}`);
    console.log(`soak: the flood: ${flood.created} circuits created, ${flood.refused} refused or cut, over ${flood.channels} channels`);
    const unexpected = (relay.output().match(/UNEXPECTED ERROR/g) ?? []).length;
    console.log(`soak: relay process ${relay.pid} ran throughout; UNEXPECTED ERROR lines in its log: ${unexpected}`);
  } finally {
    await flooder?.stop();
    await Promise.all(clients.map((c) => c.close()));
    await tor?.stop();
    await relay?.stop();
    if (!shared) {
      await testnet.stop();
      await rm(ownDir!, { recursive: true, force: true });
      console.log(`testnet: stopped the network in ${ownDir}`);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--flood') {
  floodMain(process.argv.slice(3)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
