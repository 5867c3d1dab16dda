import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDescription, stopTestnet } from '../testnet/index.ts';
import { commandLine, isProcessAlive, processStartTime } from '../node-platform/process-watch.ts';

/**
 * `npm start` leaves nothing behind, however it is stopped. Each run is the real thing: `npm start`
 * (pre-scripts skipped: the e2e run builds the extension first) with a private network in its own
 * TELESCOPE_HOME, a relay-bridge and headless Chromium. Just before the stop, every descendant of
 * npm is recorded (pid, start time, command line); afterwards none may be running, and no process
 * may name the run's home or Chromium's profile on its command line.
 *
 * A fresh network takes a minute or more, so the runs share one: the first three keep it
 * (TELESCOPE_KEEP_TESTNET=1) and must leave exactly the network running, the fourth reuses it
 * without keeping it and must stop it too. SIGKILL of the node process runs no handler at all: it
 * is proven on a fresh network killed as soon as its tors run (tor's __OwningControllerProcess and
 * the web server's owner watch), and for Chromium on its own (Playwright's pipe). About 3-4 minutes.
 */

const projectRoot = fileURLToPath(new URL('../', import.meta.url));
const extensionBuilt = existsSync(join(projectRoot, 'dist/extension/manifest.json'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Proc {
  readonly pid: number;
  readonly startTime: string;
  readonly cmd: string;
}

/** pid → parent pid of every process, from /proc. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Exited while we read.
    }
  }
  return parents;
}

/** `root` and every process below it, as they are now. */
function processTree(root: number): Proc[] {
  const parents = parentMap();
  const found = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!found.has(pid) && found.has(ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].flatMap(procOf);
}

/** `pid` as a Proc while it runs, else nothing. */
function procOf(pid: number): Proc[] {
  const startTime = processStartTime(pid);
  return startTime !== undefined && isProcessAlive(pid) ? [{ pid, startTime, cmd: commandLine(pid) }] : [];
}

/** Those of `procs` still running (the same process: a reused pid has another start time). */
function stillRunning(procs: readonly Proc[]): Proc[] {
  return procs.filter((p) => isProcessAlive(p.pid) && processStartTime(p.pid) === p.startTime);
}

/** Every running process whose command line contains one of `markers`. */
function runningWith(markers: readonly string[]): Proc[] {
  const out: Proc[] = [];
  for (const pid of parentMap().keys()) {
    if (pid === process.pid || !isProcessAlive(pid)) continue;
    const cmd = commandLine(pid);
    if (markers.some((m) => cmd.includes(m))) out.push({ pid, startTime: processStartTime(pid) ?? '', cmd });
  }
  return out;
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

const describeProcs = (procs: readonly Proc[]): string => procs.map((p) => `${p.pid} ${p.cmd.slice(0, 160)}`).join('\n  ');

/** Everything any run started (seen while it ran), killed at the end whatever happened. */
const started: Proc[] = [];
const homes: string[] = [];
const runs: StartRun[] = [];

/** One `npm start` in its own process group (as a terminal would run it). */
class StartRun {
  output = '';
  readonly npm: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly home: string, env: Record<string, string>) {
    this.npm = spawn('npm', ['start', '--ignore-scripts', '--', '--headless'], {
      cwd: projectRoot,
      env: { ...process.env, TELESCOPE_HOME: home, DISPLAY: '', ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.npm.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.npm.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.exited = new Promise((r) => this.npm.once('exit', (code, signal) => r({ code, signal })));
    runs.push(this);
  }

  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; !pattern.test(this.output); i++) {
      if (this.npm.exitCode !== null || Date.now() > deadline) throw new Error(`npm start: no ${pattern} within ${timeoutMs / 1000} s:\n${this.output}`);
      // Remember what runs now, for the clean-up should the test fail before its own snapshot.
      if (i % 8 === 0) this.snapshot();
      await sleep(250);
    }
  }

  /** Every process of the run now, remembered for the final clean-up. */
  snapshot(): Proc[] {
    const tree = processTree(this.npm.pid!);
    started.push(...tree);
    return tree;
  }

  /** The `node --import tsx testnet/start.ts` process (npm runs it through `sh -c`). */
  nodePid(tree: readonly Proc[]): number {
    // Not the `sh -c node --import tsx testnet/start.ts` around it.
    const node = tree.find((p) => /^(\S*\/)?node .*testnet\/start\.ts/.test(p.cmd));
    if (!node) throw new Error(`no testnet/start.ts process under npm:\n  ${describeProcs(tree)}`);
    return node.pid;
  }
}

/** Command-line markers of a run: its home (tors, web server) and Chromium's profile. */
function markersOf(home: string, tree: readonly Proc[]): string[] {
  const profiles = tree.flatMap((p) => /--user-data-dir=(\S+)/.exec(p.cmd)?.[1] ?? []);
  return [`${home}/`, ...new Set(profiles)];
}

const networkPids = (home: string): number[] => readDescription(join(home, 'testnet'))?.pids.slice() ?? [];
const torLogs = (home: string): string[] =>
  (readDescription(join(home, 'testnet'))?.processes ?? []).filter((p) => p.kind !== 'web').map((p) => (existsSync(p.log) ? readFileSync(p.log, 'utf8') : ''));

/**
 * Stop a run with `stop`, then check that what it started is gone by pid and by command line:
 * npm's process tree as it was just before, and the network's processes (children of an earlier
 * run when the network was reused), except the network when `networkStays`.
 */
async function expectNothingLeft(run: StartRun, stop: (nodePid: number) => void, opts: { networkStays: boolean; timeoutMs: number }): Promise<void> {
  const tree = run.snapshot();
  const nodePid = run.nodePid(tree);
  const networkSet = new Set(networkPids(run.home));
  expect(networkSet.size).toBe(11); // the web server and 10 tors
  const network = [...networkSet].flatMap(procOf);
  expect(network).toHaveLength(11);
  started.push(...network);
  expect(tree.some((p) => /chromium/.test(p.cmd)), 'Chromium runs under npm start').toBe(true);
  const markers = markersOf(run.home, tree);
  stop(nodePid);
  const spared = (p: Proc): boolean => opts.networkStays && networkSet.has(p.pid);
  const mustGo = [...tree, ...network].filter((p) => !spared(p));
  const leftovers = (): Proc[] => [...stillRunning(mustGo), ...runningWith(markers).filter((p) => !spared(p))];
  await waitFor('every process of the run to exit', () => leftovers().length === 0, opts.timeoutMs).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; still running:\n  ${describeProcs(leftovers())}\noutput:\n${run.output}`);
  });
  if (opts.networkStays) expect(stillRunning(network), 'TELESCOPE_KEEP_TESTNET=1 keeps the network').toHaveLength(11);
}

describe('npm start leaves no process behind', () => {
  let home = '';

  afterAll(async () => {
    for (const run of runs) {
      if (run.npm.exitCode === null && run.npm.signalCode === null) run.snapshot();
    }
    for (const p of stillRunning(started)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Exited in between.
      }
    }
    for (const h of homes) {
      await stopTestnet(join(h, 'testnet'));
      await rm(h, { recursive: true, force: true });
    }
  }, 60_000);

  it('SIGTERM to the node process: Chromium and the relay-bridge stop; a kept network stays, with no owner', async () => {
    expect(extensionBuilt, 'dist/extension is missing: npm run build first').toBe(true);
    home = await mkdtemp(join(tmpdir(), 'telescope-start-test-'));
    homes.push(home);
    const run = new StartRun(home, { TELESCOPE_KEEP_TESTNET: '1' });
    await run.waitForOutput(/start: running; press Ctrl-C/, 330_000);
    await expectNothingLeft(run, (node) => process.kill(node, 'SIGTERM'), { networkStays: true, timeoutMs: 30_000 });
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output).toMatch(/start: SIGTERM received; stopping/);
    // A kept network is not tied to this start.
    expect(readDescription(join(home, 'testnet'))?.ownerPid).toBeUndefined();
  }, 420_000);

  it('Ctrl-C (SIGINT to npm\'s process group)', async () => {
    const run = new StartRun(home, { TELESCOPE_KEEP_TESTNET: '1' });
    await run.waitForOutput(/start: running; press Ctrl-C/, 150_000);
    await expectNothingLeft(run, () => process.kill(-run.npm.pid!, 'SIGINT'), { networkStays: true, timeoutMs: 30_000 });
    expect(run.output).toMatch(/testnet: reusing the network/);
    expect(run.output).toMatch(/start: SIGINT received; stopping/);
  }, 200_000);

  it('SIGKILL of npm, the parent: start notices through the `sh -c` npm runs it in and stops', async () => {
    const run = new StartRun(home, { TELESCOPE_KEEP_TESTNET: '1' });
    await run.waitForOutput(/start: running; press Ctrl-C/, 150_000);
    await expectNothingLeft(run, () => process.kill(run.npm.pid!, 'SIGKILL'), { networkStays: true, timeoutMs: 30_000 });
    expect(run.output).toMatch(/start: process \d+ \(our parent's parent\) exited; stopping/);
  }, 200_000);

  it('SIGINT to the node process alone: everything stops, the network too (its tors by signal)', async () => {
    const run = new StartRun(home, {});
    await run.waitForOutput(/start: running; press Ctrl-C/, 150_000);
    await expectNothingLeft(run, (node) => process.kill(node, 'SIGINT'), { networkStays: false, timeoutMs: 30_000 });
    expect(await run.exited).toEqual({ code: 0, signal: null });
    const logs = torLogs(home);
    expect(logs).toHaveLength(10);
    for (const log of logs) expect(log).toMatch(/Catching signal TERM, exiting cleanly/);
  }, 200_000);

  it('SIGKILL of the node process: the network it owns exits by itself (tor polls its owner every 15 s)', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'telescope-start-test-'));
    homes.push(fresh);
    const run = new StartRun(fresh, {});
    // As soon as the relays run: no need to wait the minute until the network is complete.
    await waitFor('the relays to start', () => networkPids(fresh).length >= 9, 120_000);
    const tree = run.snapshot();
    const nodePid = run.nodePid(tree);
    const network = networkPids(fresh);
    expect(readDescription(join(fresh, 'testnet'))?.ownerPid).toBe(nodePid);
    for (const pid of network) expect(tree.find((p) => p.pid === pid)?.cmd).toMatch(new RegExp(`(__OwningControllerProcess|--owner-pid) ${nodePid}$`));
    process.kill(nodePid, 'SIGKILL');
    const markers = [`${fresh}/`];
    const leftovers = (): Proc[] => [...stillRunning(tree), ...runningWith(markers)];
    await waitFor('the network to exit after its owner', () => leftovers().length === 0, 60_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; still running:\n  ${describeProcs(leftovers())}`);
    });
    expect((await run.exited).code, 'npm reports the script\'s death').not.toBe(0);
    for (const log of torLogs(fresh)) expect(log).toMatch(/Owning controller process has vanished/);
    expect(readFileSync(join(fresh, 'testnet', 'web', 'web.log'), 'utf8')).toMatch(new RegExp(`owner ${nodePid} is gone`));
  }, 200_000);

  it('SIGKILL of the process that launched Chromium: Chromium exits (Playwright talks to it over a pipe)', async () => {
    const script = [
      "const { launchWithExtension } = await import('./testnet/chromium.ts');",
      "const b = await launchWithExtension('dist/extension', { headless: true, handleSignals: false });",
      "console.log('launched ' + b.extensionId);",
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    owner.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    owner.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise((r) => owner.once('exit', r));
    await waitFor(`Chromium to launch (${out})`, () => out.includes('launched ') || owner.exitCode !== null, 60_000);
    const tree = processTree(owner.pid!);
    started.push(...tree);
    expect(tree.filter((p) => /chromium/.test(p.cmd)).length, out).toBeGreaterThan(0);
    owner.kill('SIGKILL');
    await exited;
    await waitFor('Chromium to exit', () => stillRunning(tree).length === 0, 30_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; still running:\n  ${describeProcs(stillRunning(tree))}`);
    });
  }, 120_000);
});
