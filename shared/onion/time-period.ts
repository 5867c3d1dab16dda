import { UsageError } from '../util/index.ts';

/**
 * Onion-service time periods (rend-spec-v3 [TIME-PERIODS]) and the choice of shared-random value
 * for each use, computed the way tor 0.4.9 does (hs_common.c, shared_random_client.c,
 * nodelist.c node_set_hsdir_index) so that Telescope and tor agree on blinded keys and HSDirs in
 * the public network and in a private testing network alike.
 *
 * tor's rules, in seconds and minutes since the Unix epoch, with V the voting interval
 * (consensus fresh-until − valid-after):
 *  - the rotation offset is one shared-random phase, 12·V seconds (12 h on the public network,
 *    where V = 1 h): periods start halfway between two SRV publications;
 *  - the period length is the consensus parameter `hsdir_interval` (minutes, default 1440,
 *    clamped to 30..14400), except on a testing network (tor's TestingTorNetwork), where it is one
 *    SRV protocol run, 24·V seconds, in whole minutes (8 minutes for V = 20 s);
 *  - period_num = (⌊t/60⌋ − ⌊12·V/60⌋) div length; the next period starts at
 *    (num+1)·length·60 + 12·V seconds (tor keeps the offset in seconds there).
 * tor takes "now" from the consensus valid-after, not the clock, so every caller should too.
 */

/** Shared-random rounds per phase (commit, reveal). */
const SR_ROUNDS_PER_PHASE = 12;
const SR_ROUNDS_PER_RUN = 2 * SR_ROUNDS_PER_PHASE;

export const TIME_PERIOD_LENGTH_DEFAULT = 1440;
export const TIME_PERIOD_LENGTH_MIN = 30;
export const TIME_PERIOD_LENGTH_MAX = 14400;
/** tor's authorities refuse voting intervals below this unless TestingTorNetwork is set. */
const MIN_PUBLIC_VOTING_INTERVAL = 300;

export interface TimePeriodConfig {
  /** Period length in minutes (the INT_8(period_length) hashed into keys and indexes). */
  readonly lengthMinutes: number;
  /** Rotation offset in seconds: one shared-random phase (12 voting intervals). */
  readonly rotationOffsetSeconds: number;
  /** Voting interval in seconds; shared-random runs are 24 of them. */
  readonly votingIntervalSeconds: number;
}

/** What a NetDir provides for time periods. */
export interface TimePeriodSource {
  readonly votingIntervalSeconds: number;
  readonly params: ReadonlyMap<string, number>;
}

export interface TimePeriodOptions {
  /**
   * Whether the network is a testing network (tor's TestingTorNetwork, which the client and the
   * service must agree on). By default, a voting interval under 300 s means a testing network,
   * since public authorities refuse such intervals; a testing network that votes less often must
   * say so here.
   */
  readonly testingNetwork?: boolean;
}

/** The consensus parameter the way tor's networkstatus_get_param reads it: default, then clamp. */
export function consensusParam(params: ReadonlyMap<string, number>, name: string, dflt: number, min: number, max: number): number {
  const v = params.get(name);
  if (v === undefined || !Number.isFinite(v)) return dflt;
  return Math.min(max, Math.max(min, Math.trunc(v)));
}

/** Time-period length and offset for a network, from its voting interval and consensus params. */
export function timePeriodConfig(net: TimePeriodSource, options: TimePeriodOptions = {}): TimePeriodConfig {
  const v = net.votingIntervalSeconds;
  if (!Number.isSafeInteger(v) || v <= 0) throw new UsageError(`voting interval must be a positive whole number of seconds, got ${v}`);
  const testing = options.testingNetwork ?? v < MIN_PUBLIC_VOTING_INTERVAL;
  const lengthMinutes = testing
    ? Math.floor((SR_ROUNDS_PER_RUN * v) / 60)
    : consensusParam(net.params, 'hsdir_interval', TIME_PERIOD_LENGTH_DEFAULT, TIME_PERIOD_LENGTH_MIN, TIME_PERIOD_LENGTH_MAX);
  if (lengthMinutes < 1) throw new UsageError(`a voting interval of ${v} s gives time periods shorter than a minute`);
  return { lengthMinutes, rotationOffsetSeconds: SR_ROUNDS_PER_PHASE * v, votingIntervalSeconds: v };
}

/** The public network's configuration (V = 1 h, 1440-minute periods, 12 h offset). */
export const PUBLIC_TIME_PERIODS: TimePeriodConfig = { lengthMinutes: 1440, rotationOffsetSeconds: 43200, votingIntervalSeconds: 3600 };

function toSeconds(time: Date | number): number {
  const s = typeof time === 'number' ? time : time.getTime() / 1000;
  if (!Number.isFinite(s)) throw new UsageError(`not a valid time: ${String(time)}`);
  return Math.floor(s);
}

/** The time period containing `time` (a Date, or Unix seconds). */
export function timePeriodNumber(time: Date | number, cfg: TimePeriodConfig): number {
  const minutes = Math.floor(toSeconds(time) / 60);
  const offsetMinutes = Math.floor(cfg.rotationOffsetSeconds / 60);
  if (minutes <= offsetMinutes) throw new UsageError('time is before the first time period');
  return Math.floor((minutes - offsetMinutes) / cfg.lengthMinutes);
}

/** Start of period `num` in Unix seconds, as tor's hs_get_start_time_of_next_time_period computes it. */
export function timePeriodStart(num: number, cfg: TimePeriodConfig): number {
  if (!Number.isSafeInteger(num) || num < 0) throw new UsageError(`not a time period number: ${num}`);
  return num * cfg.lengthMinutes * 60 + cfg.rotationOffsetSeconds;
}

export interface TimePeriod {
  readonly num: number;
  readonly lengthMinutes: number;
  /** Unix seconds, inclusive. */
  readonly start: number;
  /** Unix seconds, exclusive: the start of the next period. */
  readonly end: number;
}

export function timePeriod(num: number, cfg: TimePeriodConfig): TimePeriod {
  return { num, lengthMinutes: cfg.lengthMinutes, start: timePeriodStart(num, cfg), end: timePeriodStart(num + 1, cfg) };
}

/** Start (Unix seconds) of the shared-random protocol run in progress at consensus `validAfter`. */
export function srvRunStart(validAfter: Date | number, cfg: TimePeriodConfig): number {
  const va = toSeconds(validAfter);
  const v = cfg.votingIntervalSeconds;
  return va - (Math.floor(va / v) % SR_ROUNDS_PER_RUN) * v;
}

/**
 * tor's hs_in_period_between_tp_and_srv: true from the start of a time period until the next SRV
 * is published (12:00–24:00 UTC on the public network), false from an SRV publication until the
 * next period starts.
 */
export function inPeriodBetweenTpAndSrv(validAfter: Date | number, cfg: TimePeriodConfig): boolean {
  const va = toSeconds(validAfter);
  const srvStart = srvRunStart(va, cfg);
  const tpStart = timePeriodStart(timePeriodNumber(srvStart, cfg) + 1, cfg);
  return !(va >= srvStart && va < tpStart);
}

export type SrvChoice = 'current' | 'previous';

/** One use of the hash ring: a time period and the shared-random value that goes with it. */
export interface RingUse {
  readonly periodNum: number;
  readonly srv: SrvChoice;
}

export interface HsDirSchedule {
  /** The current period, by consensus valid-after. */
  readonly currentPeriod: number;
  /** A client fetches with the current period's blinded key at these ring positions. */
  readonly fetch: RingUse;
  /** A service's first descriptor (tor's "current" descriptor): always the previous SRV. */
  readonly storeFirst: RingUse;
  /** A service's second descriptor (tor's "next" descriptor): always the current SRV. */
  readonly storeSecond: RingUse;
}

/**
 * Which period and SRV each party uses at consensus `validAfter` (tor's node_set_hsdir_index and
 * the service's descriptor periods). A new SRV appears at the start of a run but the period it
 * belongs to starts half a run later; between the two, the current period still goes with the
 * previous SRV:
 *  - between SRV and TP: fetch = (current period, previous SRV); store = current period with the
 *    previous SRV and next period with the current SRV;
 *  - between TP and SRV: fetch = (current period, current SRV); store = previous period with the
 *    previous SRV and current period with the current SRV.
 * So the client's fetch always matches one of the service's two uploads.
 */
export function hsDirSchedule(validAfter: Date | number, cfg: TimePeriodConfig): HsDirSchedule {
  const current = timePeriodNumber(validAfter, cfg);
  if (inPeriodBetweenTpAndSrv(validAfter, cfg)) {
    return {
      currentPeriod: current,
      fetch: { periodNum: current, srv: 'current' },
      storeFirst: { periodNum: current - 1, srv: 'previous' },
      storeSecond: { periodNum: current, srv: 'current' },
    };
  }
  return {
    currentPeriod: current,
    fetch: { periodNum: current, srv: 'previous' },
    storeFirst: { periodNum: current, srv: 'previous' },
    storeSecond: { periodNum: current + 1, srv: 'current' },
  };
}
