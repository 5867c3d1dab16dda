import { UNEXPECTED_ERROR_MARKER } from '../../shared/util/index.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { RelayProcess } from '../../testnet/relay-process.ts';
import { stopChild } from '../../testnet/stop-child.ts';
import type { TestnetDescription } from '../../testnet/index.ts';
import type { AttackerMessage, AttackerStart } from './attack-process.ts';
import type { AttackName, AttackSpec, ReportOf } from './attacks/index.ts';
import { honestDownload, type HonestResult, type HonestRoute } from './honest.ts';
import { bridgeEndpoint, processAlive, sleep, within, type BridgeEndpoint } from './peer.ts';
import { decodeReport } from './report-codec.ts';

/**
 * Runs one attack against a relay-bridge while an honest client downloads through the same bridge:
 * the honest download alone first (the baseline), then the attack — in an attacker process of its
 * own (attack-process.ts) — and once it has had time to bite the honest download again. The attack is stopped afterwards (or when its time is up,
 * whichever comes first). What is printed — the download time during the attack over the time
 * without it — is information, never asserted: machines differ in speed. What the tests assert is
 * that the honest download completed with the right bytes and that the relay process lives.
 */

export interface AttackContext {
  readonly desc: TestnetDescription;
  readonly relay: BridgeEndpoint;
  /** The attacker's own loopback source address (never the honest client's 127.0.0.1). */
  readonly address: string;
  /** Fires when the attack must end; it then resolves within a few seconds, its sockets closed. */
  readonly signal: AbortSignal;
}

export interface AttackReport {
  /** One line on what the attacker did and what it got, for the log. */
  readonly summary: string;
}

/** An attack runs until `ctx.signal` fires (or its own count runs out) and reports. */
export type Attack<R extends AttackReport = AttackReport> = (ctx: AttackContext) => Promise<R>;

export interface HostileRun<R extends AttackReport> {
  readonly name: string;
  readonly report: R;
  /** The faster of two honest downloads without the attack. */
  readonly baseline: HonestResult;
  /** The honest download during the attack, or why it failed. */
  readonly during: HonestResult | { readonly error: string };
  readonly ratio: number | undefined;
  readonly relayAlive: boolean;
  /** Errors the relay's safety net caught during the run (bugs it survived): must stay 0. */
  readonly unexpectedErrors: number;
  readonly rssKiB: { readonly before: number; readonly after: number };
}

export interface RunOptions {
  readonly route: HonestRoute;
  readonly address: string;
  /** How long the attack runs before the honest download starts. */
  readonly warmupMs?: number;
  /** Hard bound on the attack's duration. */
  readonly maxMs?: number;
}

/** Every run of this process, for the summary table the files print at the end. */
export const runs: HostileRun<AttackReport>[] = [];

const seconds = (ms: number) => (ms / 1000).toFixed(2);

export async function underAttack<N extends AttackName>(
  name: string,
  env: { readonly desc: TestnetDescription; readonly relay: RelayProcess },
  spec: AttackSpec<N>,
  opts: RunOptions,
): Promise<HostileRun<ReportOf<N>>> {
  const { desc, relay } = env;
  if (!processAlive(relay.pid)) throw new Error(`${name}: the relay process is already gone before the attack\n${relay.output().slice(-3000)}`);
  const rssBefore = relay.rssKiB();
  // Two downloads without the attack; the first also warms caches and links up, keep the faster.
  const first = await honestDownload(desc, relay, opts.route);
  const second = await honestDownload(desc, relay, opts.route);
  const baseline = first.ms <= second.ms ? first : second;
  const unexpectedBefore = unexpectedErrors(relay);
  const attacker = await startAttacker<ReportOf<N>>(spec, { desc, relay: bridgeEndpoint(relay), address: opts.address });
  const maxMs = opts.maxMs ?? 45_000;
  let capped = false;
  const cap = setTimeout(() => { capped = true; attacker.stop(); }, maxMs);
  let during: HonestResult | { error: string };
  let report: ReportOf<N>;
  try {
    try {
      const warmup = opts.warmupMs ?? 2000;
      await Promise.race([sleep(warmup), attacker.report.catch(() => undefined)]);
      const result = await honestDownload(desc, relay, opts.route, { timeoutMs: Math.max(5000, maxMs - warmup) });
      // Completed only once the attack had been stopped: that is not "during" it.
      during = capped ? { error: `still not done when the attack's ${maxMs / 1000} s were up (it completed ${seconds(result.ms)} s after it started, with the attack stopped)` } : result;
    } catch (e) {
      during = { error: e instanceof Error ? e.message : String(e) };
    } finally {
      clearTimeout(cap);
      attacker.stop();
    }
    report = await within(attacker.report, 30_000, `${name}: stopping the attack`);
  } finally {
    await attacker.gone();
  }
  const alive = processAlive(relay.pid);
  const rssAfter = alive ? relay.rssKiB() : NaN;
  const ratio = 'ms' in during ? during.ms / baseline.ms : undefined;
  const unexpected = unexpectedErrors(relay) - unexpectedBefore;
  const run: HostileRun<ReportOf<N>> = { name, report, baseline, during, ratio, relayAlive: alive, unexpectedErrors: unexpected, rssKiB: { before: rssBefore, after: rssAfter } };
  runs.push(run);
  console.log([
    `hostile ${name}: honest 1 MiB (bridge as ${opts.route}) ${seconds(baseline.ms)} s without the attack, `,
    'ms' in during ? `${seconds(during.ms)} s during it (ratio ${ratio!.toFixed(2)}${during.attempts > 1 ? `, ${during.attempts} attempts: ${during.failures.join(' | ')}` : ''})` : `FAILED during it: ${during.error}`,
    `; relay ${alive ? `alive, RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB` : 'PROCESS EXITED'}`,
    unexpected > 0 ? `, ${unexpected} UNEXPECTED ERRORS caught` : '',
    `\n  attacker: ${report.summary}`,
  ].join(''));
  return run;
}

/**
 * What every attack must leave true: the relay process lives, its safety net caught nothing (a
 * caught bug is still a bug), and the honest download got its bytes while the attack went on.
 */
export function expectHeld(run: HostileRun<AttackReport>, relay: RelayProcess): void {
  expect(run.relayAlive, `${run.name}: the relay process exited\n${relayTail(relay)}`).toBe(true);
  expect(run.unexpectedErrors, `${run.name}: the relay caught unexpected errors\n${relayTail(relay)}`).toBe(0);
  expect('ms' in run.during ? 'completed' : run.during.error, `${run.name}: ${run.report.summary}\n${relayTail(relay, 1500)}`).toBe('completed');
}

/** The table of every run so far, one line each. */
export function summaryTable(): string {
  const rows = runs.map((r) => {
    const during = 'ms' in r.during ? `${seconds(r.during.ms).padStart(6)} s` : '  FAILED';
    return `${r.name.padEnd(44)} ${seconds(r.baseline.ms).padStart(6)} s ${during} ${(r.ratio === undefined ? '-' : r.ratio.toFixed(2)).padStart(6)}  ${r.relayAlive ? 'alive' : 'EXITED'}`;
  });
  return [`${'attack'.padEnd(44)} ${'alone'.padStart(8)} ${'during'.padStart(8)} ${'ratio'.padStart(6)}  relay`, ...rows].join('\n');
}

interface Attacker<R> {
  /** The attacker's report, once it has stopped. */
  readonly report: Promise<R>;
  /** Tell it to stop (it then reports and exits). */
  stop(): void;
  /** Resolves once its process is gone (killed if it does not go by itself). */
  gone(): Promise<void>;
}

/** Fork an attacker process and start `spec` in it; resolves once the attack is under way. */
async function startAttacker<R>(spec: AttackSpec, ctx: Omit<AttackerStart, 'name' | 'options'>): Promise<Attacker<R>> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./attack-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const report = new Promise<R>((resolve, reject) => {
    child.on('message', (m: AttackerMessage) => {
      if (typeof m === 'object' && 'report' in m) resolve(decodeReport(m.report) as R);
      else if (typeof m === 'object' && 'error' in m) reject(new Error(`the attacker failed: ${m.error}`));
    });
    child.once('exit', (code, signal) => reject(new Error(`the attacker process exited (${signal ?? code}) without a report`)));
  });
  // A rejection nobody awaits yet (the attacker died early) is read where the report is awaited.
  report.catch(() => undefined);
  try {
    await within(new Promise<void>((resolve, reject) => {
      child.on('message', (m: AttackerMessage) => { if (m === 'ready') resolve(); });
      child.once('exit', (code) => reject(new Error(`the attacker process exited (${code}) before it was ready`)));
    }), 30_000, 'starting the attacker process');
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  child.send({ name: spec.name, options: spec.options, ...ctx } satisfies AttackerStart);
  return {
    report,
    stop: () => { if (child.connected) child.send('stop'); },
    gone: async () => {
      const exited = child.exitCode !== null || child.signalCode !== null;
      if (!exited) await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
      await stopChild(child);
    },
  };
}

/** Lines of the relay's log where its safety net caught an error that is not a TelescopeError. */
export function unexpectedErrors(relay: RelayProcess): number {
  return relay.output().split(UNEXPECTED_ERROR_MARKER).length - 1;
}

/** What the relay printed, for failure messages: its last lines. */
export function relayTail(relay: RelayProcess, chars = 4000): string {
  return relay.output().slice(-chars);
}
