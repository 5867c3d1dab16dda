import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import vectors from './fixtures/hsdir_index_vectors.json';
import testnet from './fixtures/testnet_hsdir_uploads.json';
import { fromBase64, fromHex, toHex } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';
import type { NetDir, NetRelay } from '../netdir/index.ts';
import { ProtocolList } from '../netdoc/index.ts';
import { parseOnionAddress } from './address.ts';
import { blindPublicKey } from './keys.ts';
import {
  disasterSrv,
  hsdirIndex,
  hsIndex,
  isV3HsDir,
  responsibleHsDirs,
  ringFor,
  sharedRandomValue,
} from './hsdir-ring.ts';
import { hsDirSchedule, timePeriodConfig } from './time-period.ts';

const v = (name: string) => vectors.vectors.find((x) => x.name === name)!;

function relay(nickname: string, ed: Uint8Array | undefined, flags: string[] = ['HSDir', 'Running', 'Valid'], hsdirProto: [number, number][] = [[2, 2]]): NetRelay {
  return {
    nickname,
    rsaIdentity: new Uint8Array(20),
    fingerprint: nickname,
    ed25519Identity: ed,
    ntorOnionKey: new Uint8Array(32),
    ipv4: { address: Uint8Array.of(127, 0, 0, 1), port: 9001 },
    ipv6: undefined,
    dirPort: 0,
    flags: new Set(flags),
    bandwidth: 1,
    family: [],
    familyIds: [],
    exitPolicy: { allowsPort: () => false },
    protocols: ProtocolList.of({ HSDir: hsdirProto }),
  };
}

function netDir(relays: NetRelay[], extra: Partial<NetDir> = {}): NetDir {
  return {
    validAfter: new Date(0),
    freshUntil: new Date(0),
    validUntil: new Date(0),
    relays,
    params: new Map(),
    weights: new Map(),
    sharedRandCurrent: undefined,
    sharedRandPrevious: undefined,
    votingIntervalSeconds: 3600,
    ...extra,
  };
}

describe('hash ring vectors (tor test_hs_indexes, test_disaster_srv)', () => {
  it('computes hs_index', () => {
    const x = v('hs_index');
    expect(toHex(hsIndex(fromHex(x.blinded_pubkey!), x.replicanum!, x.period_num, x.period_length))).toBe(x.expected);
  });
  it('computes hsdir_index', () => {
    const x = v('hsdir_index');
    expect(toHex(hsdirIndex(fromHex(x.node_identity!), fromHex(x.srv!), x.period_num, x.period_length))).toBe(x.expected);
  });
  it('computes the disaster SRV', () => {
    const x = v('disaster_srv');
    expect(toHex(disasterSrv(x.period_num, x.period_length))).toBe(x.expected);
  });
  it('uses the consensus SRV when there is one, the disaster SRV otherwise', () => {
    const cur = new Uint8Array(32).fill(1);
    const prev = new Uint8Array(32).fill(2);
    expect(sharedRandomValue({ sharedRandCurrent: cur, sharedRandPrevious: prev }, 'current', 5, 1440)).toBe(cur);
    expect(sharedRandomValue({ sharedRandCurrent: cur, sharedRandPrevious: prev }, 'previous', 5, 1440)).toBe(prev);
    expect(sharedRandomValue({ sharedRandCurrent: cur, sharedRandPrevious: undefined }, 'previous', 5, 1440)).toEqual(disasterSrv(5, 1440));
  });
});

describe('the descriptor uploads of tor 0.4.9 in the test network', () => {
  // The consensus then had no SRV, so both uploads used disaster SRVs; tor's log names each HSDir
  // and its ring position, in the order tor chose them.
  const cfg = timePeriodConfig({ votingIntervalSeconds: testnet.voting_interval_seconds, params: new Map() });
  const identity = parseOnionAddress(testnet.onion_address).publicKey;
  const relays = testnet.hsdir_relays.map((r) => relay(r.nickname, fromBase64(r.ed25519_id_base64), r.flags));
  const dir = netDir(relays, { votingIntervalSeconds: testnet.voting_interval_seconds });
  const schedule = hsDirSchedule(testnet.consensus_valid_after_unix, cfg);

  for (const [which, use] of [
    ['current', schedule.storeFirst],
    ['next', schedule.storeSecond],
  ] as const) {
    it(`places the ${which} descriptor on the same HSDirs, in the same order`, () => {
      const logged = testnet.descriptors[which];
      const blinded = blindPublicKey(identity, use.periodNum, cfg.lengthMinutes);
      expect(toHex(blinded)).toBe(logged.blinded_pubkey);
      const ring = ringFor(dir, use, cfg.lengthMinutes);
      for (const u of logged.uploads) {
        expect(toHex(hsdirIndex(fromBase64(u.ed25519_id_base64), ring.srv, ring.periodNum, ring.periodLengthMinutes)), u.nickname).toBe(u.hsdir_index);
      }
      const chosen = responsibleHsDirs(dir, blinded, ring.periodNum, ring.periodLengthMinutes, ring.srv, { purpose: 'store' });
      expect(chosen.map((r) => r.nickname)).toEqual(logged.uploads.map((u) => u.nickname));
    });
  }

  it('places a descriptor by the consensus SRV once there is one', () => {
    const up = testnet.upload_with_srv;
    const withSrv = netDir(relays, {
      votingIntervalSeconds: testnet.voting_interval_seconds,
      sharedRandCurrent: fromBase64(up.shared_rand_current_base64),
      sharedRandPrevious: undefined,
    });
    const s = hsDirSchedule(up.consensus_valid_after_unix, cfg);
    expect(s.storeSecond).toEqual({ periodNum: up.time_period_num, srv: 'current' });
    const ring = ringFor(withSrv, s.storeSecond, cfg.lengthMinutes);
    expect(ring.srv).toEqual(withSrv.sharedRandCurrent);
    const blinded = blindPublicKey(identity, ring.periodNum, cfg.lengthMinutes);
    expect(toHex(blinded)).toBe(up.blinded_pubkey);
    for (const u of up.uploads) {
      expect(toHex(hsdirIndex(fromBase64(u.ed25519_id_base64), ring.srv, ring.periodNum, ring.periodLengthMinutes)), u.nickname).toBe(u.hsdir_index);
    }
    const chosen = responsibleHsDirs(withSrv, blinded, ring.periodNum, ring.periodLengthMinutes, ring.srv, { purpose: 'store' });
    expect(chosen.map((r) => r.nickname)).toEqual(up.uploads.map((u) => u.nickname));
    // The service's other descriptor still sits where the missing previous SRV puts it.
    expect(ringFor(withSrv, s.storeFirst, cfg.lengthMinutes).srv).toEqual(disasterSrv(s.storeFirst.periodNum, cfg.lengthMinutes));
  });
});

describe('responsibleHsDirs', () => {
  const ed = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const relays = fc.array(
    fc.record({ ed: fc.option(ed, { nil: undefined }), hsdir: fc.boolean(), proto: fc.constantFrom<[number, number][]>([[2, 2]], [[1, 2]], [[1, 1]], []) }),
    { maxLength: 40 },
  );

  it('returns min(replicas × spread, ring size) distinct HSDirs, each a v3 HSDir', () => {
    fc.assert(
      fc.property(relays, ed, ed, fc.integer({ min: 0, max: 1e7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (specs, key, srv, tp, replicas, spread) => {
        const dir = netDir(specs.map((s, i) => relay(`r${i}`, s.ed, s.hsdir ? ['HSDir'] : ['Running'], s.proto)));
        const ringSize = dir.relays.filter(isV3HsDir).length;
        const chosen = responsibleHsDirs(dir, key, tp, 1440, srv, { replicas, spread });
        expect(chosen).toHaveLength(Math.min(replicas * spread, ringSize));
        expect(new Set(chosen).size).toBe(chosen.length);
        for (const r of chosen) {
          expect(r.flags.has('HSDir')).toBe(true);
          expect(r.ed25519Identity).toBeDefined();
          expect(isV3HsDir(r)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('each replica takes the relays that follow its position on the ring', () => {
    fc.assert(
      fc.property(fc.array(ed, { minLength: 1, maxLength: 30 }), ed, ed, (eds, key, srv) => {
        const dir = netDir(eds.map((e, i) => relay(`r${i}`, e)));
        const chosen = responsibleHsDirs(dir, key, 7, 1440, srv, { replicas: 1, spread: 3 });
        const sorted = dir.relays
          .map((r) => ({ r, idx: toHex(hsdirIndex(r.ed25519Identity!, srv, 7, 1440)) }))
          .sort((a, b) => (a.idx < b.idx ? -1 : a.idx > b.idx ? 1 : 0));
        const target = toHex(hsIndex(key, 1, 7, 1440));
        const first = sorted.findIndex((e) => e.idx >= target);
        const start = first < 0 ? 0 : first;
        const expected = Array.from({ length: Math.min(3, sorted.length) }, (_, i) => sorted[(start + i) % sorted.length]!.r);
        expect(chosen).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('takes spread and replicas from the consensus by default', () => {
    const eds = Array.from({ length: 20 }, (_, i) => new Uint8Array(32).fill(i + 1));
    const key = new Uint8Array(32).fill(9);
    const srv = new Uint8Array(32);
    const mk = (params: Record<string, number>) => netDir(eds.map((e, i) => relay(`r${i}`, e)), { params: new Map(Object.entries(params)) });
    expect(responsibleHsDirs(mk({}), key, 1, 1440, srv)).toHaveLength(6);
    expect(responsibleHsDirs(mk({}), key, 1, 1440, srv, { purpose: 'store' })).toHaveLength(8);
    expect(responsibleHsDirs(mk({ hsdir_n_replicas: 3, hsdir_spread_fetch: 2 }), key, 1, 1440, srv)).toHaveLength(6);
    expect(responsibleHsDirs(mk({ hsdir_n_replicas: 100 }), key, 1, 1440, srv, { spread: 1 })).toHaveLength(16);
    expect(responsibleHsDirs(netDir([]), key, 1, 1440, srv)).toEqual([]);
  });

  it('rejects bad arguments with typed errors', () => {
    const dir = netDir([]);
    expect(() => responsibleHsDirs(dir, new Uint8Array(31), 1, 1440, new Uint8Array(32))).toThrow(UsageError);
    expect(() => responsibleHsDirs(dir, new Uint8Array(32), 1, 1440, new Uint8Array(32), { spread: 0 })).toThrow(UsageError);
    expect(() => hsdirIndex(new Uint8Array(32), new Uint8Array(3), 1, 1440)).toThrow(UsageError);
    expect(() => hsIndex(new Uint8Array(32), 1, -1, 1440)).toThrow(UsageError);
  });
});
