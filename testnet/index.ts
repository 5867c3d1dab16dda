/**
 * A private Tor network on 127.0.0.1 built from Debian's tor 0.4.9: three directory authorities,
 * five more relays (guards, a middle, two exits), a v3 onion service in front of a small web
 * server, and a plain tor client with a SocksPort as the comparison peer.
 *
 * startTestnet() returns once the network is usable end to end: every relay serves a consensus
 * that lists all relays with their forced flags, every tor has bootstrapped, and the web server
 * answers through the client's SocksPort both via an exit and via the onion service. The
 * description (DIR/network.json) tells tests everything they need to reach the network without
 * parsing tor's files again.
 *
 * The tors and the web server are detached processes, so `npm run testnet -- up` can return and
 * leave them running; stopTestnet(dir) kills exactly the processes recorded in network.json. A
 * network started with an owner (StartOptions.ownerPid: `npm start`, the e2e run) ends with
 * that process however it ends, SIGKILL included.
 * Set TELESCOPE_TESTNET_DEBUG=1 to see, every second, why each relay is not ready yet.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile, rename, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { get as httpGet } from 'node:http';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TelescopeError, UsageError } from '../shared/errors.ts';
import {
  NETWORK_PLAN,
  resolvConf as resolvConfText,
  bandwidthFile,
  clientTorrc,
  dirAuthorityLine,
  onionServiceTorrc,
  relayTorrc,
  type AuthorityKeys,
  type NodePlan,
  type Role,
  type TorKind,
} from './config.ts';
import { describeWebPaths, type PathInfo, type WebPath } from './web-content.ts';
import { httpGetViaSocks } from './socks.ts';
import { isProcessAlive } from '../node-platform/process-watch.ts';

export { isProcessAlive };

const execFileP = promisify(execFile);

/** The harness could not bring the network up; the message names the tor and quotes its log. */
export class TestnetError extends TelescopeError {}

// ---------------------------------------------------------------------------------------------
// The description written to DIR/network.json

export interface AuthorityDescription {
  readonly nickname: string;
  /** The exact torrc line other tors (and Telescope's config) use for this authority. */
  readonly dirAuthorityLine: string;
  /** Hex SHA-1 of the v3 authority identity key. */
  readonly v3ident: string;
  /** Hex RSA identity fingerprint of the authority's relay. */
  readonly fingerprint: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
}

export interface RelayDescription {
  readonly nickname: string;
  /** Hex RSA identity fingerprint, upper case. */
  readonly fingerprint: string;
  /** Ed25519 master identity key, standard base64 with padding (32 bytes). */
  readonly ed25519Identity: string;
  /** Current ntor onion key (curve25519), standard base64 with padding (32 bytes). */
  readonly ntorOnionKey: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  readonly roles: readonly Role[];
  /** Configured exit policy rules, in order. */
  readonly exitPolicy: readonly string[];
  /** Flags the consensus gave this relay when the network came up. */
  readonly flags: readonly string[];
}

export interface TorProcessDescription {
  readonly nickname: string;
  readonly kind: TorKind | 'web';
  readonly pid: number;
  /** The tor's DataDirectory (for the web server: its folder). */
  readonly dir: string;
  /** notice-level log (for the web server: its stdout). */
  readonly log: string;
}

export interface TestnetDescription {
  readonly dir: string;
  readonly torVersion: string;
  readonly authorities: readonly AuthorityDescription[];
  readonly relays: readonly RelayDescription[];
  readonly onionService: { readonly nickname: string; readonly address: string; readonly port: 80 };
  readonly client: { readonly nickname: string; readonly socksPort: number };
  readonly web: {
    readonly address: '127.0.0.1';
    readonly port: number;
    /** UDP port of the exits' DNS responder: "localhost" is 127.0.0.1, every other name NXDOMAIN. */
    readonly dnsPort: number;
    readonly paths: Record<WebPath, PathInfo>;
  };
  /** Every process the harness started; stopTestnet kills exactly these. */
  readonly pids: readonly number[];
  readonly processes: readonly TorProcessDescription[];
  /** Voting interval of the authorities in seconds (onion-service time periods follow it). */
  readonly votingIntervalSeconds: number;
  readonly startedAt: string;
  /**
   * The process whose end ends the network (StartOptions.ownerPid), absent for a network that is
   * meant to outlive its starter (`npm run testnet -- up`).
   */
  readonly ownerPid?: number;
  /** False while the harness is still bringing the network up (or if it failed). */
  readonly ready: boolean;
}

export interface Testnet {
  readonly dir: string;
  readonly description: TestnetDescription;
  /** True when reuseOrStart found this network already running. */
  readonly reused: boolean;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly dir: string;
  /** Progress lines ("testnet: ..."); silent if omitted. */
  readonly log?: (line: string) => void;
  /** Overall deadline for the network to come up (default 240 s). */
  readonly timeoutMs?: number;
  /**
   * Tie the network's life to this process: every tor gets `__OwningControllerProcess PID` (tor
   * polls the pid every 15 s and exits once it is gone) and the web server watches it too, so the
   * network ends with its owner even when the owner is SIGKILLed and runs no handler. `npm
   * start` and the e2e run pass their own pid; `npm run testnet -- up` passes none, because its
   * network must keep running after the command returns.
   */
  readonly ownerPid?: number;
}

export const DESCRIPTION_FILE = 'network.json';
const VOTING_INTERVAL_SECONDS = 20;

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function findBinary(name: string): string {
  const envName = name === 'tor' ? 'TOR_BIN' : 'TOR_GENCERT_BIN';
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return name;
}

/**
 * `n` distinct TCP ports that are free on 127.0.0.1 now. They are taken below the kernel's
 * ephemeral range: tor binds them only seconds later, after key generation, and in between an
 * outgoing connection of any process could be given an ephemeral port we had picked.
 */
async function freePorts(n: number): Promise<number[]> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: keep the usual default.
  }
  const min = 10_000;
  const max = Math.max(min + 1000, Math.min(low, 65_536)) - 1;
  const canBind = (port: number): Promise<boolean> =>
    new Promise((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
  const picked = new Set<number>();
  for (let tries = 0; picked.size < n; tries++) {
    if (tries > 50 * n) throw new TestnetError(`could not find ${n} free ports on 127.0.0.1 between ${min} and ${max}`);
    const port = min + Math.floor(Math.random() * (max - min + 1));
    if (!picked.has(port) && (await canBind(port))) picked.add(port);
  }
  return [...picked];
}

const isAlive = isProcessAlive;

/**
 * Every process the harness starts names a file under DIR on its command line (`-f DIR/x/torrc`,
 * `--port-file DIR/web/port`): checking for "DIR/" guards against killing an unrelated process
 * that reused a recorded pid, or one of a network in a sibling directory (DIR1 vs DIR10).
 */
const markerOf = (absDir: string): string => `${absDir}/`;

/** True if /proc says `pid` is still the process we started (its command line names `marker`). */
function isOurProcess(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    // No /proc entry: the process is gone (or this is not Linux, where we trust the pid).
    return process.platform !== 'linux' && isAlive(pid);
  }
}

function tail(file: string, lines = 15): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return `    (no log at ${file})`;
  }
}

function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** GET http://127.0.0.1:port/path (tor's DirPort); resolves undefined on any failure. */
function dirGet(port: number, path: string, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    const req = httpGet({ host: '127.0.0.1', port, path, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise(res.statusCode === 200 ? Buffer.concat(chunks).toString('latin1') : undefined));
      res.on('error', () => resolvePromise(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(undefined));
  });
}

const b64ToHex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex').toUpperCase();
const padB64 = (b64: string): string => Buffer.from(b64, 'base64').toString('base64');

// ---------------------------------------------------------------------------------------------
// Just enough consensus and microdescriptor parsing to tell when the network is ready. The real
// parsers live in shared/directory; the harness must not depend on the code it is there to test.

interface ConsensusEntry {
  readonly nickname: string;
  readonly fingerprint: string;
  readonly flags: readonly string[];
  readonly microdescDigest: string;
}

function parseConsensusEntries(text: string): ConsensusEntry[] {
  const out: ConsensusEntry[] = [];
  let cur: { nickname: string; fingerprint: string; flags: string[]; microdescDigest: string } | undefined;
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    if (parts[0] === 'r' && parts.length >= 8) {
      if (cur) out.push(cur);
      cur = { nickname: parts[1] ?? '', fingerprint: b64ToHex(parts[2] ?? ''), flags: [], microdescDigest: '' };
    } else if (cur && parts[0] === 's') {
      cur.flags = parts.slice(1);
    } else if (cur && parts[0] === 'm' && parts[1]) {
      cur.microdescDigest = parts[1];
    } else if (parts[0] === 'directory-footer') {
      break;
    }
  }
  if (cur) out.push(cur);
  return out;
}

interface Microdesc {
  readonly digest: string;
  readonly ntorOnionKey: string | undefined;
  readonly ed25519Identity: string | undefined;
}

/**
 * Split a /tor/micro/d/ response into microdescriptors. Each starts with an "onion-key" line
 * (which may be empty since TAP's removal); its digest is SHA-256 over the exact text.
 */
function parseMicrodescs(text: string): Microdesc[] {
  const starts: number[] = [];
  const re = /^onion-key\b/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) starts.push(m.index);
  return starts.map((start, i) => {
    const body = text.slice(start, starts[i + 1] ?? text.length);
    const digest = createHash('sha256').update(Buffer.from(body, 'latin1')).digest('base64').replace(/=+$/, '');
    return {
      digest,
      ntorOnionKey: /^ntor-onion-key (\S+)/m.exec(body)?.[1],
      ed25519Identity: /^id ed25519 (\S+)/m.exec(body)?.[1],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Keys

interface NodeState {
  readonly plan: NodePlan;
  readonly dataDir: string;
  readonly torrc: string;
  readonly notice: string;
  readonly orPort: number;
  readonly dirPort: number;
  readonly socksPort: number;
  fingerprint: string;
  ed25519: string;
  v3ident: string;
  child?: ChildProcess;
  pid?: number;
  exited?: string;
}

/** The ntor public key stored after the 32-byte header and the 32-byte secret in the key file. */
function ntorPublicFromKeyFile(file: string): string {
  const raw = readFileSync(file);
  if (raw.length !== 96 || !raw.subarray(0, 21).toString('latin1').startsWith('== c25519v1: onion ==')) {
    throw new TestnetError(`${file}: not a tor curve25519 key file (${raw.length} bytes)`);
  }
  const secret = raw.subarray(32, 64);
  const pub = raw.subarray(64, 96);
  // Check the stored public half against the secret, so a format change cannot go unnoticed.
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]);
  const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
    .export({ format: 'der', type: 'spki' })
    .subarray(-32);
  if (!derived.equals(pub)) throw new TestnetError(`${file}: public key does not match the secret key`);
  return pub.toString('base64');
}

async function generateKeys(node: NodeState, files: { emptyTorrc: string }): Promise<void> {
  const tor = findBinary('tor');
  await mkdir(join(node.dataDir, 'keys'), { recursive: true, mode: 0o700 });
  await chmod(node.dataDir, 0o700);
  if (node.plan.kind === 'authority') {
    // v3 authority identity + signing key and certificate; empty passphrase on stdin.
    await new Promise<void>((res, rej) => {
      const p = spawn(
        findBinary('tor-gencert'),
        [
          '--create-identity-key',
          '-m', '12',
          '-a', `127.0.0.1:${node.dirPort}`,
          '-i', join(node.dataDir, 'keys', 'authority_identity_key'),
          '-s', join(node.dataDir, 'keys', 'authority_signing_key'),
          '-c', join(node.dataDir, 'keys', 'authority_certificate'),
          '--passphrase-fd', '0',
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let err = '';
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.stdout.on('data', (c: Buffer) => (err += c.toString()));
      p.on('error', rej);
      p.on('exit', (code) => (code === 0 ? res() : rej(new TestnetError(`tor-gencert for ${node.plan.nickname} exited ${code}: ${err.trim()}`))));
      p.stdin.end('\n');
    });
    const cert = await readFile(join(node.dataDir, 'keys', 'authority_certificate'), 'utf8');
    const m = /^fingerprint ([0-9A-F]{40})$/m.exec(cert);
    if (!m?.[1]) throw new TestnetError(`${node.plan.nickname}: no fingerprint line in authority_certificate`);
    node.v3ident = m[1];
  }
  if (node.plan.kind === 'authority' || node.plan.kind === 'relay') {
    // Creates the relay identity (RSA + Ed25519) and onion keys, then exits without networking.
    // The dummy authority keeps tor from even configuring the public ones.
    try {
      await execFileP(tor, [
        '--defaults-torrc', files.emptyTorrc,
        '-f', files.emptyTorrc,
        '--list-fingerprint',
        '--DataDirectory', node.dataDir,
        '--Nickname', node.plan.nickname,
        '--ORPort', '127.0.0.1:1',
        '--DirAuthority', `dummy 127.0.0.1:1 ${'0'.repeat(40)}`,
        '--Log', 'err stderr',
      ]);
    } catch (err) {
      throw new TestnetError(`tor --list-fingerprint for ${node.plan.nickname} failed: ${(err as Error).message}`, { cause: err });
    }
    const fpr = /^\S+ ([0-9A-F]{40})\s*$/m.exec(await readFile(join(node.dataDir, 'fingerprint'), 'utf8'));
    if (!fpr?.[1]) throw new TestnetError(`${node.plan.nickname}: unreadable DataDirectory/fingerprint`);
    node.fingerprint = fpr[1];
    const ed = /^\S+ ([A-Za-z0-9+/]{43})\s*$/m.exec(await readFile(join(node.dataDir, 'fingerprint-ed25519'), 'utf8'));
    if (!ed?.[1]) throw new TestnetError(`${node.plan.nickname}: unreadable DataDirectory/fingerprint-ed25519`);
    node.ed25519 = padB64(ed[1]);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

function spawnDetached(cmd: string, args: string[], outFile: string, cwd?: string): ChildProcess {
  const fd = openSync(outFile, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...(cwd ? { cwd } : {}) });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/**
 * tor's command line: its torrc, and the owner (on the command line rather than in the torrc, so
 * the torrc stays the network's plan and the owner shows in `ps`).
 */
function torArgs(emptyTorrc: string, torrc: string, ownerPid: number | undefined): string[] {
  return ['--defaults-torrc', emptyTorrc, '-f', torrc, ...(ownerPid === undefined ? [] : ['__OwningControllerProcess', String(ownerPid)])];
}

function startTor(node: NodeState, emptyTorrc: string, ownerPid: number | undefined): void {
  const child = spawnDetached(findBinary('tor'), torArgs(emptyTorrc, node.torrc, ownerPid), join(node.dataDir, 'stdout.log'));
  node.child = child;
  node.pid = child.pid;
  child.on('exit', (code, signal) => {
    node.exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
  });
  child.on('error', (err) => {
    node.exited = `could not start: ${err.message}`;
  });
}

const projectRoot = fileURLToPath(new URL('../', import.meta.url));
const webServerScript = fileURLToPath(new URL('./web-server.ts', import.meta.url));

/** Kill `pid` if it still runs `marker`: SIGTERM, then SIGKILL after 5 s. */
async function killProcess(pid: number, marker: string): Promise<void> {
  if (!isOurProcess(pid, marker)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  // From here on only liveness counts: a process that is exiting has an empty /proc cmdline
  // before it is gone, so the marker check would call it finished too early.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && isAlive(pid)) await sleep(50);
}

// ---------------------------------------------------------------------------------------------
// Public API

export function readDescription(dir: string): TestnetDescription | undefined {
  const file = join(dir, DESCRIPTION_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TestnetDescription;
  } catch (err) {
    throw new TestnetError(`${file} is not a network description: ${(err as Error).message}`, { cause: err });
  }
}

/** Write then rename, so a reader (another test worker, `testnet status`) never sees half a file. */
async function writeDescriptionFile(absDir: string, d: TestnetDescription): Promise<void> {
  const file = join(absDir, DESCRIPTION_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(d, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** Kill every process recorded in DIR/network.json (only those, and only if still ours). */
export async function stopTestnet(dir: string): Promise<{ stopped: number }> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (!desc) return { stopped: 0 };
  const live = desc.pids.filter((pid) => isOurProcess(pid, markerOf(absDir)));
  await Promise.all(live.map((pid) => killProcess(pid, markerOf(absDir))));
  return { stopped: live.length };
}

/** True if every process of the network in DIR still runs and the description says ready. */
export function isRunning(dir: string): boolean {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  return !!desc && desc.ready && desc.pids.length > 0 && desc.pids.every((pid) => isOurProcess(pid, markerOf(absDir)));
}

function handle(absDir: string, description: TestnetDescription, reused: boolean): Testnet {
  return {
    dir: absDir,
    description,
    reused,
    async stop() {
      await stopTestnet(absDir);
    },
  };
}

/**
 * Use the network already running in DIR if it is complete and answers through its client,
 * otherwise clean up whatever is left there and start a new one.
 */
export async function reuseOrStart(dir: string, opts: Omit<StartOptions, 'dir'> = {}): Promise<Testnet> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (desc && isRunning(absDir)) {
    try {
      const res = await httpGetViaSocks({ socksPort: desc.client.socksPort, host: '127.0.0.1', port: desc.web.port, path: '/hello', timeoutMs: 30_000 });
      if (res.status === 200) {
        opts.log?.(`testnet: reusing the network in ${absDir} (up since ${desc.startedAt})`);
        return handle(absDir, desc, true);
      }
    } catch (err) {
      opts.log?.(`testnet: the network in ${absDir} does not answer (${(err as Error).message}); starting a new one`);
    }
  }
  if (desc) await stopTestnet(absDir);
  return startTestnet({ ...opts, dir: absDir });
}

/**
 * Start one tor of a running network again (after a test killed it) with its own torrc and
 * DataDirectory, so it keeps its keys. Stops it first if it still runs. Resolves once it has
 * bootstrapped again and, for a relay, an authority's consensus lists it as Running; the
 * description in DIR/network.json is rewritten with the new pid, and returned.
 */
export async function restartRelay(dir: string, nickname: string, opts: { timeoutMs?: number; log?: (line: string) => void } = {}): Promise<TestnetDescription> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (!desc) throw new UsageError(`no network description in ${absDir}`);
  const proc = desc.processes.find((p) => p.nickname === nickname);
  if (!proc || proc.kind === 'web') throw new UsageError(`no tor named ${nickname} in ${absDir}`);
  await killProcess(proc.pid, markerOf(absDir));
  const torrc = join(proc.dir, 'torrc');
  const logFile = proc.log;
  // Only "Bootstrapped 100%" lines written after the restart count.
  const offset = readIfExists(logFile).length;
  // A restarted tor keeps the network's owner.
  const child = spawnDetached(findBinary('tor'), torArgs(join(absDir, 'empty-torrc'), torrc, desc.ownerPid), join(proc.dir, 'stdout.log'));
  if (child.pid === undefined) throw new TestnetError(`could not start tor for ${nickname}`);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with code ${code}`));
  const oldPid = proc.pid;
  const updated: TestnetDescription = {
    ...desc,
    pids: desc.pids.map((p) => (p === oldPid ? child.pid! : p)),
    processes: desc.processes.map((p) => (p.nickname === nickname ? { ...p, pid: child.pid! } : p)),
  };
  await writeDescriptionFile(absDir, updated);
  opts.log?.(`testnet: restarted ${nickname} (pid ${child.pid})`);

  const relay = desc.relays.find((r) => r.nickname === nickname);
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (exited) throw new TestnetError(`tor ${nickname} ${exited} after restart; end of ${logFile}:\n${tail(logFile)}`);
    let ready = readIfExists(logFile).slice(offset).includes('Bootstrapped 100%');
    if (ready && relay) {
      const authority = desc.authorities[0];
      const text = authority ? await dirGet(authority.dirPort, '/tor/status-vote/current/consensus-microdesc') : undefined;
      const entry = parseConsensusEntries(text ?? '').find((e) => e.fingerprint === relay.fingerprint);
      ready = !!entry?.flags.includes('Running');
    }
    if (ready) return updated;
    if (Date.now() > deadline) throw new TestnetError(`tor ${nickname} did not come back within ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s; end of ${logFile}:\n${tail(logFile)}`);
    await sleep(500);
  }
}

/** Refuse to wipe a directory that is not ours; stop what a previous run left in it. */
async function prepareDir(absDir: string): Promise<void> {
  if (existsSync(absDir)) {
    const desc = readDescription(absDir);
    if (desc) {
      if (desc.pids.some((pid) => isOurProcess(pid, markerOf(absDir)))) {
        throw new UsageError(`a test network is already running in ${absDir}: stop it first (npm run testnet -- down --dir ${absDir})`);
      }
    } else if ((await readdir(absDir)).length > 0) {
      throw new UsageError(`${absDir} is not empty and holds no ${DESCRIPTION_FILE}: refusing to delete it`);
    }
    await rm(absDir, { recursive: true, force: true });
  }
  await mkdir(absDir, { recursive: true, mode: 0o700 });
}

export async function startTestnet(opts: StartOptions): Promise<Testnet> {
  const absDir = resolve(opts.dir);
  const log = opts.log ?? ((): void => {});
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 240_000);
  const elapsed = (): string => `${Math.round((Date.now() - t0) / 1000)} s`;

  const { stdout: versionOut } = await execFileP(findBinary('tor'), ['--version']).catch((err: unknown) => {
    throw new TestnetError(`cannot run tor (${findBinary('tor')}): ${(err as Error).message}`, { cause: err });
  });
  const torVersion = /Tor version (\S+?)\.?$/m.exec(versionOut)?.[1] ?? 'unknown';
  await prepareDir(absDir);

  const emptyTorrc = join(absDir, 'empty-torrc');
  const resolvConf = join(absDir, 'resolv.conf');
  const bwFile = join(absDir, 'bandwidth.txt');
  await writeFile(emptyTorrc, '');

  const ports = await freePorts(NETWORK_PLAN.length * 2);
  const nodes: NodeState[] = NETWORK_PLAN.map((plan, i) => {
    const dataDir = join(absDir, plan.nickname);
    const isRelay = plan.kind === 'authority' || plan.kind === 'relay';
    return {
      plan,
      dataDir,
      torrc: join(dataDir, 'torrc'),
      notice: join(dataDir, 'notice.log'),
      orPort: isRelay ? (ports[2 * i] ?? 0) : 0,
      dirPort: isRelay ? (ports[2 * i + 1] ?? 0) : 0,
      socksPort: plan.kind === 'client' ? (ports[2 * i] ?? 0) : 0,
      fingerprint: '',
      ed25519: '',
      v3ident: '',
    };
  });
  const relays = nodes.filter((n) => n.plan.kind === 'authority' || n.plan.kind === 'relay');
  const authorities = nodes.filter((n) => n.plan.kind === 'authority');
  const client = nodes.find((n) => n.plan.kind === 'client');
  const onion = nodes.find((n) => n.plan.kind === 'onion-service');
  if (!client || !onion) throw new UsageError('NETWORK_PLAN needs a client and an onion service');

  const processes: TorProcessDescription[] = [];
  let webPort = 0;
  let dnsPort = 0;
  const webPaths = describeWebPaths();
  const snapshot = (ready: boolean, extra?: { relays?: RelayDescription[]; onionAddress?: string }): TestnetDescription => {
    const authKeys = authorities.map(toAuthorityKeys);
    return {
      dir: absDir,
      torVersion,
      authorities: authorities.map((a, i) => ({
        nickname: a.plan.nickname,
        dirAuthorityLine: dirAuthorityLine(authKeys[i]!),
        v3ident: a.v3ident,
        fingerprint: a.fingerprint,
        address: '127.0.0.1',
        orPort: a.orPort,
        dirPort: a.dirPort,
      })),
      relays: extra?.relays ?? [],
      onionService: { nickname: onion.plan.nickname, address: extra?.onionAddress ?? '', port: 80 },
      client: { nickname: client.plan.nickname, socksPort: client.socksPort },
      web: { address: '127.0.0.1', port: webPort, dnsPort, paths: webPaths },
      pids: processes.map((p) => p.pid),
      processes: [...processes],
      votingIntervalSeconds: VOTING_INTERVAL_SECONDS,
      startedAt: new Date(t0).toISOString(),
      ...(opts.ownerPid === undefined ? {} : { ownerPid: opts.ownerPid }),
      ready,
    };
  };
  const writeDescription = (d: TestnetDescription): Promise<void> => writeDescriptionFile(absDir, d);
  const stopAll = async (): Promise<void> => {
    await Promise.all(processes.map((p) => killProcess(p.pid, markerOf(absDir))));
  };

  try {
    // 1. Keys: v3 authority certificates and relay identities, all in parallel.
    await Promise.all(nodes.map((n) => generateKeys(n, { emptyTorrc })));
    log(`testnet: keys for ${authorities.length} authorities and ${relays.length - authorities.length} relays created (${elapsed()})`);

    // 2. Web server, detached so it outlives `testnet up`.
    const webDir = join(absDir, 'web');
    await mkdir(webDir, { recursive: true });
    const portFile = join(webDir, 'ports.json');
    const web = spawnDetached(
      process.execPath,
      ['--import', 'tsx', webServerScript, '--port', '0', '--dns-port', '0', '--port-file', portFile, ...(opts.ownerPid === undefined ? [] : ['--owner-pid', String(opts.ownerPid)])],
      join(webDir, 'web.log'),
      projectRoot,
    );
    if (web.pid === undefined) throw new TestnetError('could not start the web server');
    processes.push({ nickname: 'web', kind: 'web', pid: web.pid, dir: webDir, log: join(webDir, 'web.log') });
    await writeDescription(snapshot(false));
    let webExited: string | undefined;
    web.on('exit', (code, signal) => (webExited = signal ? `killed by ${signal}` : `exited with code ${code}`));
    while (!existsSync(portFile)) {
      if (webExited) throw new TestnetError(`the web server ${webExited}:\n${tail(join(webDir, 'web.log'))}`);
      if (Date.now() > t0 + 60_000) throw new TestnetError(`the web server did not start within 60 s:\n${tail(join(webDir, 'web.log'))}`);
      await sleep(100);
    }
    const webPorts = JSON.parse(readFileSync(portFile, 'utf8')) as { http: number; dns: number };
    webPort = webPorts.http;
    dnsPort = webPorts.dns;
    await writeFile(resolvConf, resolvConfText(dnsPort));
    log(`testnet: web server on 127.0.0.1:${webPort}, DNS for the exits on 127.0.0.1:${dnsPort} (${elapsed()})`);

    // 3. torrcs and the authorities' bandwidth file.
    const authKeys = authorities.map(toAuthorityKeys);
    await writeFile(`${bwFile}.tmp`, bandwidthFile(relays.map((r) => ({ fingerprint: r.fingerprint, bandwidth: r.plan.bandwidth })), new Date()));
    await rename(`${bwFile}.tmp`, bwFile);
    const guards = relays.filter((r) => r.plan.roles.includes('guard')).map((r) => r.fingerprint);
    const exits = relays.filter((r) => r.plan.roles.includes('exit')).map((r) => r.fingerprint);
    const hsdirs = relays.map((r) => r.fingerprint);
    for (const n of nodes) {
      const base = { nickname: n.plan.nickname, dataDir: n.dataDir, authorities: authKeys };
      let text: string;
      if (n.plan.kind === 'authority' || n.plan.kind === 'relay') {
        text = relayTorrc({
          ...base,
          kind: n.plan.kind,
          orPort: n.orPort,
          dirPort: n.dirPort,
          exitPolicy: n.plan.exitPolicy,
          isExit: n.plan.roles.includes('exit'),
          resolvConf,
          ...(n.plan.kind === 'authority' ? { bandwidthFile: bwFile, guards, exits, hsdirs } : {}),
        });
      } else if (n.plan.kind === 'client') {
        text = clientTorrc({ ...base, socksPort: n.socksPort });
      } else {
        text = onionServiceTorrc({ ...base, infoLog: true, hiddenServiceDir: join(n.dataDir, 'hs'), webPort });
      }
      await mkdir(n.dataDir, { recursive: true, mode: 0o700 });
      await writeFile(n.torrc, text);
    }

    // 4. Authorities and relays.
    for (const n of relays) {
      startTor(n, emptyTorrc, opts.ownerPid);
      if (n.pid === undefined) throw new TestnetError(`could not start tor for ${n.plan.nickname}`);
      processes.push({ nickname: n.plan.nickname, kind: n.plan.kind, pid: n.pid, dir: n.dataDir, log: n.notice });
    }
    await writeDescription(snapshot(false));
    log(`testnet: started ${relays.length} relays (${authorities.length} authorities) (${elapsed()})`);

    const checkAlive = (list: readonly NodeState[]): void => {
      for (const n of list) {
        if (n.exited) throw new TestnetError(`tor ${n.plan.nickname} ${n.exited}; end of ${n.notice}:\n${tail(n.notice)}\n  stdout:\n${tail(join(n.dataDir, 'stdout.log'), 5)}`);
      }
    };
    // Quote the logs of the first few tors only: when all of them are late they share one cause,
    // and eight log tails would bury it.
    const timeoutError = (what: string, culprits: readonly { node: NodeState; why: string }[]): TestnetError =>
      new TestnetError(
        `the test network did not come up within ${Math.round((deadline - t0) / 1000)} s: ${what}\n` +
          culprits
            .map((c, i) => (i < 3 ? `  ${c.node.plan.nickname}: ${c.why}; end of ${c.node.notice}:\n${tail(c.node.notice)}` : `  ${c.node.plan.nickname}: ${c.why} (log: ${c.node.notice})`))
            .join('\n'),
      );

    // 5. Wait until every relay serves a consensus listing all relays with their forced flags and
    //    serves all of their microdescriptors, and has bootstrapped itself.
    const expectedFlags = (n: NodeState): string[] => [
      'Running',
      'Valid',
      'HSDir',
      ...(n.plan.roles.includes('guard') ? ['Guard'] : []),
      ...(n.plan.roles.includes('exit') ? ['Exit'] : []),
      ...(n.plan.kind === 'authority' ? ['Authority'] : []),
    ];
    let lastVotes = -1;
    let lastCount = -1;
    let lastServing = -1;
    let finalEntries: ConsensusEntry[] = [];
    let finalMicrodescs = new Map<string, Microdesc>();
    for (;;) {
      checkAlive(relays);
      const votes = authorities.filter((a) => readIfExists(a.notice).includes('Uploaded my vote')).length;
      if (votes !== lastVotes) {
        log(`testnet: authorities voting... ${votes}/${authorities.length}`);
        lastVotes = votes;
      }
      const problems: { node: NodeState; why: string }[] = [];
      let best = 0;
      for (const r of relays) {
        const text = await dirGet(r.dirPort, '/tor/status-vote/current/consensus-microdesc');
        if (!text) {
          problems.push({ node: r, why: 'serves no consensus yet' });
          continue;
        }
        const entries = parseConsensusEntries(text);
        best = Math.max(best, entries.length);
        const missing: string[] = [];
        for (const want of relays) {
          const e = entries.find((x) => x.fingerprint === want.fingerprint);
          const lacking = e ? expectedFlags(want).filter((f) => !e.flags.includes(f)) : [];
          if (!e) missing.push(`${want.plan.nickname} absent`);
          else if (lacking.length) missing.push(`${want.plan.nickname} lacks ${lacking.join(',')}`);
        }
        if (missing.length) {
          problems.push({ node: r, why: `its consensus: ${missing.join('; ')}` });
          continue;
        }
        const digests = entries.map((e) => e.microdescDigest);
        const mdText = await dirGet(r.dirPort, `/tor/micro/d/${digests.join('-')}`);
        const mds = new Map(parseMicrodescs(mdText ?? '').map((m) => [m.digest, m]));
        const lackingMd = entries.filter((e) => !mds.has(e.microdescDigest)).map((e) => e.nickname);
        if (lackingMd.length) {
          problems.push({ node: r, why: `does not serve the microdescriptors of ${lackingMd.join(', ')}` });
          continue;
        }
        if (!readIfExists(r.notice).includes('Bootstrapped 100%')) {
          problems.push({ node: r, why: 'has not bootstrapped to 100%' });
          continue;
        }
        finalEntries = entries;
        finalMicrodescs = mds;
      }
      if (best !== lastCount) {
        if (best > 0) log(`testnet: consensus has ${best} relays (${elapsed()})`);
        lastCount = best;
      }
      if (process.env.TELESCOPE_TESTNET_DEBUG) log(`testnet: [debug ${elapsed()}] ${problems.map((p) => `${p.node.plan.nickname}: ${p.why}`).join(' | ')}`);
      const serving = relays.length - problems.length;
      if (serving !== lastServing) {
        log(`testnet: ${serving}/${relays.length} relays serve the full consensus and are bootstrapped`);
        lastServing = serving;
      }
      if (problems.length === 0) break;
      if (Date.now() > deadline) throw timeoutError('relays not ready', problems);
      await sleep(1000);
    }

    // Relay keys as the network publishes them; cross-checked with the keys on disk.
    const relayDescriptions: RelayDescription[] = relays.map((r) => {
      const entry = finalEntries.find((e) => e.fingerprint === r.fingerprint);
      const md = entry ? finalMicrodescs.get(entry.microdescDigest) : undefined;
      if (!entry || !md?.ntorOnionKey || !md.ed25519Identity) throw new TestnetError(`${r.plan.nickname}: no microdescriptor with ntor and ed25519 keys`);
      const ntor = padB64(md.ntorOnionKey);
      const ed = padB64(md.ed25519Identity);
      if (ed !== r.ed25519) throw new TestnetError(`${r.plan.nickname}: microdescriptor ed25519 id ${ed} differs from fingerprint-ed25519 ${r.ed25519}`);
      const onDisk = ntorPublicFromKeyFile(join(r.dataDir, 'keys', 'secret_onion_key_ntor'));
      if (onDisk !== ntor) throw new TestnetError(`${r.plan.nickname}: microdescriptor ntor key differs from keys/secret_onion_key_ntor`);
      return {
        nickname: r.plan.nickname,
        fingerprint: r.fingerprint,
        ed25519Identity: ed,
        ntorOnionKey: ntor,
        address: '127.0.0.1',
        orPort: r.orPort,
        dirPort: r.dirPort,
        roles: r.plan.roles,
        exitPolicy: r.plan.exitPolicy,
        flags: entry.flags,
      };
    });

    // 6. Client and onion service, now that the consensus is complete everywhere.
    for (const n of [onion, client]) {
      startTor(n, emptyTorrc, opts.ownerPid);
      if (n.pid === undefined) throw new TestnetError(`could not start tor for ${n.plan.nickname}`);
      processes.push({ nickname: n.plan.nickname, kind: n.plan.kind, pid: n.pid, dir: n.dataDir, log: n.notice });
    }
    await writeDescription(snapshot(false, { relays: relayDescriptions }));
    log(`testnet: client and onion service bootstrapping... (${elapsed()})`);

    const onionInfo = join(onion.dataDir, 'info.log');
    let announced = new Set<string>();
    let firstUpload = 0;
    for (;;) {
      checkAlive([...relays, onion, client]);
      const pending: { node: NodeState; why: string }[] = [];
      for (const n of [client, onion]) {
        if (!readIfExists(n.notice).includes('Bootstrapped 100%')) pending.push({ node: n, why: 'has not bootstrapped to 100%' });
        else if (!announced.has(n.plan.nickname)) {
          announced = new Set([...announced, n.plan.nickname]);
          log(`testnet: ${n.plan.nickname} (${n.plan.kind}) bootstrapped (${elapsed()})`);
        }
      }
      const uploads = (readIfExists(onionInfo).match(/Uploaded hidden service descriptor \(status 200/g) ?? []).length;
      if (uploads > 0 && firstUpload === 0) {
        firstUpload = Date.now();
        log(`testnet: onion service descriptor uploaded (${elapsed()})`);
      }
      // The uploads to the other HSDirs follow within a moment; a client that asks an HSDir too
      // early is told "not found" and does not ask that HSDir again for minutes.
      if (uploads === 0 || Date.now() - firstUpload < 3000) pending.push({ node: onion, why: 'has not uploaded its descriptor' });
      if (pending.length === 0) break;
      if (Date.now() > deadline) throw timeoutError('client or onion service not ready', pending);
      await sleep(500);
    }
    const hostname = readFileSync(join(onion.dataDir, 'hs', 'hostname'), 'utf8').trim();
    if (!/^[a-z2-7]{56}\.onion$/.test(hostname)) throw new TestnetError(`onion service hostname file holds ${JSON.stringify(hostname)}`);

    // 7. End to end through the client: via an exit, and via the onion service.
    const fetchHello = async (host: string, port: number, what: string): Promise<void> => {
      let lastErr: unknown;
      while (Date.now() < deadline) {
        try {
          const res = await httpGetViaSocks({ socksPort: client.socksPort, host, port, path: '/hello', timeoutMs: Math.max(5000, Math.min(60_000, deadline - Date.now())) });
          const want = webPaths['/hello'];
          const got = createHash('sha256').update(res.body).digest('hex');
          if (res.status === 200 && got === want.sha256) {
            log(`testnet: fetched /hello ${what} (${elapsed()})`);
            return;
          }
          lastErr = new TestnetError(`status ${res.status}, body sha256 ${got}`);
        } catch (err) {
          lastErr = err;
        }
        checkAlive([...relays, onion, client]);
        await sleep(1000);
      }
      throw new TestnetError(
        `the test network did not come up within ${Math.round((deadline - t0) / 1000)} s: GET http://${host}:${port}/hello ${what} failed: ` +
          `${(lastErr as Error)?.message}\n` +
          `  ${client.plan.nickname}: end of ${client.notice}:\n${tail(client.notice)}\n` +
          `  ${onion.plan.nickname}: end of ${onion.notice}:\n${tail(onion.notice)}`,
        { cause: lastErr },
      );
    };
    await fetchHello('127.0.0.1', webPort, 'through an exit');
    await fetchHello('localhost', webPort, 'through an exit by name');
    await fetchHello(hostname, 80, 'through the onion service');

    const description = snapshot(true, { relays: relayDescriptions, onionAddress: hostname });
    await writeDescription(description);
    log(`testnet: up in ${elapsed()}; description in ${join(absDir, DESCRIPTION_FILE)}`);
    return handle(absDir, description, false);
  } catch (err) {
    await stopAll();
    throw err;
  }

  function toAuthorityKeys(a: NodeState): AuthorityKeys {
    return { nickname: a.plan.nickname, fingerprint: a.fingerprint, orPort: a.orPort, dirPort: a.dirPort, v3ident: a.v3ident };
  }
}
