/**
 * The network's processes: finding tor, picking ports, starting the tors and the web server (which
 * also answers the exits' DNS) detached so that `npm run testnet -- up` can return and leave them
 * running, and stopping exactly the processes a network.json records.
 *
 * Owner lifelines: a network started with an owner pid ends with that process however it ends,
 * SIGKILL included: every tor gets `__OwningControllerProcess PID` (tor polls it every 15 s) and the
 * web server `--owner-pid PID` (it polls every second).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isProcessAlive } from '../node-platform/process-watch.ts';
import { readDescription, type TorProcessDescription } from './description.ts';
import { TestnetError } from './errors.ts';
import type { PlacedNode } from './plan.ts';

export { isProcessAlive };

const execFileP = promisify(execFile);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** tor or tor-gencert: $TOR_BIN / $TOR_GENCERT_BIN, else the usual system folders, else $PATH. */
export function findBinary(name: 'tor' | 'tor-gencert'): string {
  const envName = name === 'tor' ? 'TOR_BIN' : 'TOR_GENCERT_BIN';
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return name;
}

/** `tor --version`'s version number; a tor that cannot run is a TestnetError. */
export async function torVersion(): Promise<string> {
  const { stdout } = await execFileP(findBinary('tor'), ['--version']).catch((err: unknown) => {
    throw new TestnetError(`cannot run tor (${findBinary('tor')}): ${(err as Error).message}`, { cause: err });
  });
  return /Tor version (\S+?)\.?$/m.exec(stdout)?.[1] ?? 'unknown';
}

/**
 * `n` distinct TCP ports that are free on 127.0.0.1 now. They are taken below the kernel's
 * ephemeral range: tor binds them only seconds later, after key generation, and in between an
 * outgoing connection of any process could be given an ephemeral port we had picked.
 */
export async function freePorts(n: number): Promise<number[]> {
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
    return process.platform !== 'linux' && isProcessAlive(pid);
  }
}

/** True if any of `pids` is still a process of the network in `absDir`. */
export function anyStillOurs(absDir: string, pids: readonly number[]): boolean {
  return pids.some((pid) => isOurProcess(pid, markerOf(absDir)));
}

/** The last `lines` lines of a log, indented, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return `    (no log at ${file})`;
  }
}

export function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

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

/** A process the harness started and watches while it brings the network up. */
export interface StartedProcess {
  readonly pid: number;
  /** Why it ended ("exited with code 1", "killed by SIGTERM", "could not start: ..."), or undefined while it runs. */
  exited(): string | undefined;
}

function watch(child: ChildProcess, what: string): StartedProcess {
  if (child.pid === undefined) throw new TestnetError(`could not start ${what}`);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with code ${code}`));
  child.on('error', (err) => (exited = `could not start: ${err.message}`));
  return { pid: child.pid, exited: () => exited };
}

/**
 * tor's command line: its torrc, and the owner (on the command line rather than in the torrc, so
 * the torrc stays the network's plan and the owner shows in `ps`).
 */
function torArgs(emptyTorrc: string, torrc: string, ownerPid: number | undefined): string[] {
  return ['--defaults-torrc', emptyTorrc, '-f', torrc, ...(ownerPid === undefined ? [] : ['__OwningControllerProcess', String(ownerPid)])];
}

/** Start the tor of `dataDir` with its torrc (written before), its stdout in DataDir/stdout.log. */
export function startTor(opts: { nickname: string; dataDir: string; torrc: string; emptyTorrc: string; ownerPid: number | undefined }): StartedProcess {
  const child = spawnDetached(findBinary('tor'), torArgs(opts.emptyTorrc, opts.torrc, opts.ownerPid), join(opts.dataDir, 'stdout.log'));
  return watch(child, `tor for ${opts.nickname}`);
}

/** A started tor of the network. */
export interface RunningTor extends StartedProcess {
  readonly node: PlacedNode;
}

/** The entry network.json records for a started tor. */
export function describeTor(t: RunningTor): TorProcessDescription {
  return { nickname: t.node.plan.nickname, kind: t.node.plan.kind, pid: t.pid, dir: t.node.dataDir, log: t.node.notice };
}

/** Throws, quoting its logs, if any of `tors` has exited. */
export function assertRunning(tors: readonly RunningTor[]): void {
  for (const t of tors) {
    const why = t.exited();
    if (why) throw new TestnetError(`tor ${t.node.plan.nickname} ${why}; end of ${t.node.notice}:\n${tail(t.node.notice)}\n  stdout:\n${tail(join(t.node.dataDir, 'stdout.log'), 5)}`);
  }
}

const projectRoot = fileURLToPath(new URL('../', import.meta.url));
const webServerScript = fileURLToPath(new URL('./web-server.ts', import.meta.url));

export interface WebServerProcess extends StartedProcess {
  readonly log: string;
  /** Its HTTP and DNS ports, once it listens; rejects if it exits or does not listen by `deadline`. */
  ports(deadline: number): Promise<{ http: number; dns: number }>;
}

/** The web server with the exits' DNS responder (web-server.ts), on ports the kernel picks. */
export function startWebServer(webDir: string, ownerPid: number | undefined): WebServerProcess {
  const portFile = join(webDir, 'ports.json');
  const log = join(webDir, 'web.log');
  const child = spawnDetached(
    process.execPath,
    ['--import', 'tsx', webServerScript, '--port', '0', '--dns-port', '0', '--port-file', portFile, ...(ownerPid === undefined ? [] : ['--owner-pid', String(ownerPid)])],
    log,
    projectRoot,
  );
  const started = watch(child, 'the web server');
  return {
    ...started,
    log,
    async ports(deadline) {
      while (!existsSync(portFile)) {
        const why = started.exited();
        if (why) throw new TestnetError(`the web server ${why}:\n${tail(log)}`);
        if (Date.now() > deadline) throw new TestnetError(`the web server did not start within 60 s:\n${tail(log)}`);
        await sleep(100);
      }
      return JSON.parse(readFileSync(portFile, 'utf8')) as { http: number; dns: number };
    },
  };
}

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
    if (!isProcessAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && isProcessAlive(pid)) await sleep(50);
}

/** Kill these processes of the network in `absDir` (only those still ours). */
export async function killNetworkProcesses(absDir: string, pids: readonly number[]): Promise<void> {
  await Promise.all(pids.map((pid) => killProcess(pid, markerOf(absDir))));
}

/** Kill every process recorded in DIR/network.json (only those, and only if still ours). */
export async function stopTestnet(dir: string): Promise<{ stopped: number }> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (!desc) return { stopped: 0 };
  const live = desc.pids.filter((pid) => isOurProcess(pid, markerOf(absDir)));
  await killNetworkProcesses(absDir, live);
  return { stopped: live.length };
}

/** True if every process of the network in DIR still runs and the description says ready. */
export function isRunning(dir: string): boolean {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  return !!desc && desc.ready && desc.pids.length > 0 && desc.pids.every((pid) => isOurProcess(pid, markerOf(absDir)));
}
