import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from './fixtures/time_period_vectors.json';
import testnet from './fixtures/testnet_hsdir_uploads.json';
import { UsageError } from '../util/index.ts';
import {
  hsDirSchedule,
  inPeriodBetweenTpAndSrv,
  PUBLIC_TIME_PERIODS,
  srvRunStart,
  timePeriod,
  timePeriodConfig,
  timePeriodNumber,
  timePeriodStart,
  type TimePeriodConfig,
} from './time-period.ts';

const utc = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);
const secs = (s: string) => utc(s).getTime() / 1000;
const publicNet = timePeriodConfig({ votingIntervalSeconds: 3600, params: new Map() });

describe('time periods on the public network', () => {
  it('has tor\'s defaults: 1440-minute periods, 12 h offset', () => {
    expect(publicNet).toEqual(PUBLIC_TIME_PERIODS);
  });

  it('numbers the vector times', () => {
    for (const v of vectors.vectors) {
      const cfg = timePeriodConfig({ votingIntervalSeconds: 3600, params: new Map([['hsdir_interval', v.period_length_min]]) });
      expect(timePeriodNumber(utc(v.utc), cfg), v.utc).toBe(v.time_period_num);
    }
  });

  it('gives the range of period 16903', () => {
    const p = timePeriod(16903, publicNet);
    expect(p.start).toBe(secs(vectors.period_16903_range_utc[0]!));
    expect(p.end).toBe(secs(vectors.period_16903_range_utc[1]!));
  });

  it('reads and clamps hsdir_interval as tor does', () => {
    const len = (v: number) => timePeriodConfig({ votingIntervalSeconds: 3600, params: new Map([['hsdir_interval', v]]) }).lengthMinutes;
    expect(len(60)).toBe(60);
    expect(len(1)).toBe(30);
    expect(len(1e9)).toBe(14400);
    // The old spelling is not what tor 0.4.9 reads.
    expect(timePeriodConfig({ votingIntervalSeconds: 3600, params: new Map([['hsdir-interval', 60]]) }).lengthMinutes).toBe(1440);
  });

  it('switches SRV between the SRV publication (00:00) and the period start (12:00)', () => {
    expect(inPeriodBetweenTpAndSrv(utc('2024-05-01 00:00:00'), publicNet)).toBe(false);
    expect(inPeriodBetweenTpAndSrv(utc('2024-05-01 11:00:00'), publicNet)).toBe(false);
    expect(inPeriodBetweenTpAndSrv(utc('2024-05-01 12:00:00'), publicNet)).toBe(true);
    expect(inPeriodBetweenTpAndSrv(utc('2024-05-01 23:00:00'), publicNet)).toBe(true);
    const morning = hsDirSchedule(utc('2024-05-01 03:00:00'), publicNet);
    const tp = timePeriodNumber(utc('2024-05-01 03:00:00'), publicNet);
    expect(morning).toEqual({
      currentPeriod: tp,
      fetch: { periodNum: tp, srv: 'previous' },
      storeFirst: { periodNum: tp, srv: 'previous' },
      storeSecond: { periodNum: tp + 1, srv: 'current' },
    });
    const evening = hsDirSchedule(utc('2024-05-01 15:00:00'), publicNet);
    expect(evening).toEqual({
      currentPeriod: tp + 1,
      fetch: { periodNum: tp + 1, srv: 'current' },
      storeFirst: { periodNum: tp, srv: 'previous' },
      storeSecond: { periodNum: tp + 1, srv: 'current' },
    });
    expect(srvRunStart(utc('2024-05-01 15:00:00'), publicNet)).toBe(secs('2024-05-01 00:00:00'));
  });
});

describe('time periods on a testing network (TestingTorNetwork)', () => {
  it('derives length and offset from the voting interval', () => {
    expect(timePeriodConfig({ votingIntervalSeconds: 20, params: new Map() })).toEqual({ lengthMinutes: 8, rotationOffsetSeconds: 240, votingIntervalSeconds: 20 });
    expect(timePeriodConfig({ votingIntervalSeconds: 10, params: new Map([['hsdir_interval', 60]]) }).lengthMinutes).toBe(4);
    // Whole minutes, as tor truncates: 24 × 12 s = 288 s → 4 minutes.
    expect(timePeriodConfig({ votingIntervalSeconds: 12, params: new Map() }).lengthMinutes).toBe(4);
    expect(timePeriodConfig({ votingIntervalSeconds: 600, params: new Map() }, { testingNetwork: true }).lengthMinutes).toBe(240);
    expect(timePeriodConfig({ votingIntervalSeconds: 20, params: new Map() }, { testingNetwork: false }).lengthMinutes).toBe(1440);
    expect(() => timePeriodConfig({ votingIntervalSeconds: 2, params: new Map() })).toThrow(UsageError);
    expect(() => timePeriodConfig({ votingIntervalSeconds: 0, params: new Map() })).toThrow(UsageError);
  });

  it('matches what the tor 0.4.9 onion service of the test network logged', () => {
    const cfg = timePeriodConfig({ votingIntervalSeconds: testnet.voting_interval_seconds, params: new Map() });
    const va = testnet.consensus_valid_after_unix;
    const s = hsDirSchedule(va, cfg);
    expect(s.storeFirst.periodNum).toBe(testnet.descriptors.current.time_period_num);
    expect(s.storeSecond.periodNum).toBe(testnet.descriptors.next.time_period_num);
    expect(srvRunStart(va, cfg)).toBe(testnet.descriptors.next.srv_run_start_unix);
    expect(srvRunStart(va, cfg) - 24 * cfg.votingIntervalSeconds).toBe(testnet.descriptors.current.srv_run_start_unix);
    // A client fetching then uses the service's "next" descriptor.
    expect(s.fetch).toEqual(s.storeSecond);
  });
});

describe('properties', () => {
  const configs: TimePeriodConfig[] = [
    publicNet,
    ...[10, 12, 15, 20, 25, 30, 60].map((v) => timePeriodConfig({ votingIntervalSeconds: v, params: new Map() })),
    timePeriodConfig({ votingIntervalSeconds: 3600, params: new Map([['hsdir_interval', 90]]) }),
  ];
  const when = fc.integer({ min: 1_000_000_000, max: 4_000_000_000 });

  it('a period contains the times that map to it, and periods tile time', () => {
    fc.assert(
      fc.property(fc.constantFrom(...configs), when, (cfg, t) => {
        const p = timePeriod(timePeriodNumber(t, cfg), cfg);
        expect(p.end - p.start).toBe(cfg.lengthMinutes * 60);
        // tor keeps the offset in seconds at period starts but whole minutes when numbering, so
        // with a voting interval that is not a multiple of 5 s the two disagree by < 1 minute.
        const slack = cfg.rotationOffsetSeconds % 60;
        expect(t).toBeGreaterThanOrEqual(p.start - slack);
        expect(t).toBeLessThan(p.end);
        expect(timePeriodStart(p.num + 1, cfg)).toBe(p.end);
      }),
    );
  });

  it('a client always fetches at one of the two places a service stores', () => {
    fc.assert(
      fc.property(fc.constantFrom(...configs), when, (cfg, t) => {
        const s = hsDirSchedule(t, cfg);
        expect([s.storeFirst, s.storeSecond]).toContainEqual(s.fetch);
        expect(s.fetch.periodNum).toBe(s.currentPeriod);
        expect(s.storeSecond.periodNum).toBe(s.storeFirst.periodNum + 1);
      }),
    );
  });

  it('bad inputs give typed errors', () => {
    expect(() => timePeriodNumber(new Date(Number.NaN), publicNet)).toThrow(UsageError);
    expect(() => timePeriodNumber(60, publicNet)).toThrow(UsageError);
    expect(() => timePeriodStart(-1, publicNet)).toThrow(UsageError);
  });
});
