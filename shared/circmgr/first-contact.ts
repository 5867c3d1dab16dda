import type { DirAuthority, FallbackDir } from '../directory/index.ts';
import { NetworkUnreachableError, TelescopeError, silentLogger, type Logger, type Scheduler } from '../util/index.ts';

/**
 * The first contact of a bootstrap without a usable consensus: which directory sources to try,
 * when, and how many at once, until one gives us a directory connection.
 *
 * This follows tor's bootstrap download schedule (networkstatus.c, "multiple downloads" while
 * bootstrapping, with the ClientBootstrapConsensus* options and their defaults):
 * - fallback directories first, from the start (ClientBootstrapConsensusFallbackDownloadInitialDelay
 *   0), chosen at random by weight, one new attempt per second (tor looks at its schedules once a
 *   second) while fewer than 3 are in progress (ClientBootstrapConsensusMaxInProgressTries 3);
 * - the authorities only after 6 seconds (ClientBootstrapConsensusAuthorityDownloadInitialDelay),
 *   then at growing, randomized intervals (tor's "decorrelated jitter": the next delay is drawn
 *   between the first delay and three times the last one), so that they carry only what the
 *   fallbacks do not; with no fallbacks at all, the authorities from the start
 *   (ClientBootstrapConsensusAuthorityOnlyDownloadInitialDelay 0);
 * - the first source to answer wins; connections still in progress are released when they finish.
 *
 * Unlike tor, which retries forever, the first contact is bounded: each attempt has a time limit,
 * and when every source has failed, or none answered before the overall deadline, it fails with a
 * NetworkUnreachableError ("cannot reach the Tor network", with counts of what was tried), so a
 * client without a network says so within seconds instead of hanging.
 *
 * Pure: the connection, the clock, the timers and the randomness are injected.
 */

/** A directory source of a first bootstrap, reached at its ORPort. */
export interface FirstContactSource {
  readonly kind: 'fallback' | 'authority';
  /** The authority's nickname, or the fallback's when its list names one. */
  readonly nickname: string | undefined;
  /** IPv4 address. */
  readonly address: string;
  readonly orPort: number;
  /** RSA identity fingerprint, 40 upper-case hex digits: the link handshake checks it. */
  readonly fingerprint: string;
}

export interface FirstContactTiming {
  /** Attempts in progress at once (tor's ClientBootstrapConsensusMaxInProgressTries). */
  readonly maxInProgress: number;
  /** How often the schedule is looked at, and the least time between two fallback attempts. */
  readonly tickMs: number;
  /** When the authorities join, if there are fallbacks (ClientBootstrapConsensusAuthorityDownloadInitialDelay). */
  readonly authorityDelayMs: number;
  /** The time one attempt may take (connection, link handshake, CREATE_FAST). */
  readonly attemptTimeoutMs: number;
  /** The time the whole first contact may take before it gives up. */
  readonly deadlineMs: number;
}

/** tor's defaults for the schedule, and Telescope's bounds on it. */
export const BOOTSTRAP_TIMING: FirstContactTiming = {
  maxInProgress: 3,
  tickMs: 1_000,
  authorityDelayMs: 6_000,
  attemptTimeoutMs: 10_000,
  deadlineMs: 30_000,
};

export interface FirstContactOptions<T> {
  readonly fallbacks: readonly FallbackDir[];
  readonly authorities: readonly DirAuthority[];
  /** Open a directory connection to a source (for a client: a one-hop CREATE_FAST circuit). */
  readonly connect: (source: FirstContactSource) => Promise<T>;
  /** Give back a connection that is not used: it answered after another won, or too late. */
  readonly release: (value: T) => void;
  readonly timing?: Partial<FirstContactTiming>;
  readonly now?: () => number;
  readonly schedule?: Scheduler;
  /** Uniform in [0, 1): the order of the sources and the authorities' intervals. */
  readonly random?: () => number;
  /** Each attempt as it starts (for logs, status and tests). */
  readonly onAttempt?: (source: FirstContactSource) => void;
  readonly log?: Logger;
}

export interface FirstContact<T> {
  readonly source: FirstContactSource;
  readonly value: T;
}

const defaultScheduler: Scheduler = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

/** The sources of a network as a first contact sees them. */
export function firstContactSources(fallbacks: readonly FallbackDir[], authorities: readonly DirAuthority[]): FirstContactSource[] {
  return [
    ...fallbacks.map((f): FirstContactSource => ({ kind: 'fallback', nickname: f.nickname, address: f.address, orPort: f.orPort, fingerprint: f.fingerprint })),
    ...authorities.map((a): FirstContactSource => ({ kind: 'authority', nickname: a.nickname, address: a.address, orPort: a.orPort, fingerprint: a.fingerprint })),
  ];
}

/**
 * Sources in the order to try them: a random order in which a source of weight w comes early
 * w times as often (each gets the key -ln(u)/w and the keys are sorted: Efraimidis and Spirakis).
 */
function weightedOrder<S>(items: readonly S[], weight: (s: S) => number, random: () => number): S[] {
  return items
    .map((s) => ({ s, key: -Math.log(1 - random()) / Math.max(weight(s), 1e-9) }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.s);
}

/** How an attempt failed, for the counts the final error gives. */
type Outcome = 'timed out' | 'connection failed' | 'handshake failed' | 'failed';

function outcomeOf(e: unknown): Outcome {
  if (!(e instanceof TelescopeError)) return 'failed';
  if (e.kind === 'timeout') return 'timed out';
  if (e.kind === 'channel-failed') return e.phase === 'link-handshake' ? 'handshake failed' : 'connection failed';
  if (e.kind === 'handshake-failed') return 'handshake failed';
  return 'failed';
}

/**
 * Try the sources on tor's schedule until one connects; the first to do so is returned. Rejects
 * with a NetworkUnreachableError when all of them failed or the deadline passed first.
 */
export function firstContact<T>(opts: FirstContactOptions<T>): Promise<FirstContact<T>> {
  const timing = { ...BOOTSTRAP_TIMING, ...opts.timing };
  const now = opts.now ?? Date.now;
  const schedule = opts.schedule ?? defaultScheduler;
  const random = opts.random ?? Math.random;
  const log = opts.log ?? silentLogger;
  const weights = new Map(opts.fallbacks.map((f) => [f.fingerprint, f.weight ?? 1]));
  const fallbacks = weightedOrder(firstContactSources(opts.fallbacks, []), (s) => weights.get(s.fingerprint) ?? 1, random);
  const authorities = weightedOrder(firstContactSources([], opts.authorities), () => 1, random);
  const total = { fallbacks: fallbacks.length, authorities: authorities.length };

  return new Promise<FirstContact<T>>((resolve, reject) => {
    const start = now();
    let nextFallbackAt = start;
    let authorityDelay = fallbacks.length > 0 ? timing.authorityDelayMs : 0;
    let nextAuthorityAt = start + authorityDelay;
    let inProgress = 0;
    let done = false;
    let cancelTick: (() => void) | undefined;
    const cancelDeadline = schedule(() => giveUp(`none answered within ${Math.round(timing.deadlineMs / 1000)} s`), timing.deadlineMs);
    const tried = { fallbacks: 0, authorities: 0 };
    const outcomes = new Map<Outcome, number>();
    let firstError: unknown;

    const finish = (): void => {
      done = true;
      cancelTick?.();
      cancelDeadline();
    };

    function giveUp(why: string): void {
      if (done) return;
      finish();
      reject(new NetworkUnreachableError({ tried, total, outcomes: Object.fromEntries(outcomes), why, cause: firstError }));
    }

    function launch(source: FirstContactSource): void {
      inProgress++;
      if (source.kind === 'fallback') tried.fallbacks++;
      else tried.authorities++;
      opts.onAttempt?.(source);
      const name = `${source.kind} ${source.nickname ?? source.fingerprint.slice(0, 8)} (${source.address}:${source.orPort})`;
      log.info(`first contact: trying ${name}`);
      let settled = false;
      const failed = (e: unknown): void => {
        if (settled) return;
        settled = true;
        inProgress--;
        const outcome = outcomeOf(e);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        firstError ??= e;
        log.info(`first contact: ${name} ${outcome}: ${e instanceof Error ? e.message : String(e)}`);
        tick();
      };
      const cancelTimeout = schedule(() => failed(new TelescopeError(`${name} did not answer in ${timing.attemptTimeoutMs} ms`, { kind: 'timeout' })), timing.attemptTimeoutMs);
      // connect is the caller's: a synchronous throw is a failure of this attempt like any other.
      let attempt: Promise<T>;
      try {
        attempt = opts.connect(source);
      } catch (e) {
        attempt = Promise.reject(e);
      }
      attempt.then(
        (value) => {
          cancelTimeout();
          if (settled || done) {
            opts.release(value);
            return;
          }
          settled = true;
          inProgress--;
          finish();
          log.info(`first contact: ${name} answered`);
          resolve({ source, value });
        },
        (e: unknown) => {
          cancelTimeout();
          failed(e);
        },
      );
    }

    /** Start what the schedule allows now, then look again at the next tick. */
    function tick(): void {
      if (done) return;
      cancelTick?.();
      cancelTick = undefined;
      const t = now();
      while (inProgress < timing.maxInProgress) {
        if (fallbacks.length > 0 && t >= nextFallbackAt) {
          nextFallbackAt = t + timing.tickMs;
          launch(fallbacks.shift()!);
        } else if (authorities.length > 0 && t >= nextAuthorityAt) {
          const base = Math.max(timing.authorityDelayMs, timing.tickMs);
          authorityDelay = base + random() * Math.max(authorityDelay * 3 - base, 1);
          nextAuthorityAt = t + authorityDelay;
          launch(authorities.shift()!);
        } else break;
        if (done) return;
      }
      if (inProgress === 0 && fallbacks.length === 0 && authorities.length === 0) {
        giveUp('every one failed');
        return;
      }
      cancelTick = schedule(tick, timing.tickMs);
    }

    tick();
  });
}
