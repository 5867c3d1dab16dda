import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { toHex } from '../bytes/index.ts';
import { parseAuthCerts, parseConsensus, parseMicrodescs, type Microdesc } from '../netdoc/index.ts';
import { buildNetDir, type NetDir, type NetRelay } from '../netdir/index.ts';
import { chooseExit, chooseGuardCandidate, chooseMiddle, type ChooseOptions } from './select.ts';
import { seededRandom } from './fixtures/synthetic-netdir.ts';
import { FULL_SIZE } from '../testing/full-size.ts';

/**
 * Path selection over the public network of 2026-01-29 (netdoc/fixtures/live-2026-01-29): drawn
 * guards, middles and exits must follow the distribution the consensus implies — each relay in
 * proportion to its measured bandwidth times the bandwidth-weight for its position and flags
 * (path-spec "bandwidth-weights"). The expected probabilities are computed here from the raw
 * consensus text (its r/s/w lines and the bandwidth-weights line), not from the parser's output.
 *
 * The fixture has microdescriptors for only 450 of the 9,745 relays, and NetDir keeps only relays
 * with one. So that the whole network takes part, every relay without a real microdescriptor gets
 * a synthetic one (zero ntor key, no family, exits to no port). Guard, middle and exit-for-any-port
 * selection read only consensus data (flags, weight), so the synthetic ones decide nothing but
 * membership; the 450 real ones are used as they are.
 *
 * Draws use a seeded generator, so the outcome is the same on every run. The bounds are the
 * chi-square distribution's 0.999 quantiles (p = 0.001), chosen for honest sampling noise rather
 * than tuned to a seed; the same draws fail them against the unweighted distribution.
 */
const fixtures = new URL('../netdoc/fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const brotliText = (name: string) => new TextDecoder().decode(brotliDecompressSync(read(name)));
const text = brotliText('consensus-microdesc.br');

const now = new Date('2026-01-29T07:30:00Z');
const certs = parseAuthCerts(new TextDecoder().decode(read('authority-certs.txt'))).map((c) => c.check(now));
const consensus = parseConsensus(text).check(certs.map((c) => ({ fingerprint: c.fingerprint })), certs, now);

function syntheticMicrodesc(digestBase64: string): Microdesc {
  return {
    digest: new Uint8Array(32),
    digestBase64,
    text: '',
    ntorOnionKey: new Uint8Array(32),
    family: [],
    familyIds: [],
    policySummary: 'reject 1-65535',
    ipv6PolicySummary: 'reject 1-65535',
    ed25519Id: undefined,
    rsaId: undefined,
  };
}
const real = new Map(parseMicrodescs(brotliText('microdescriptors-sample.br')).map((m) => [m.digestBase64, m]));
const microdescs = new Map(consensus.routers.map((r) => [r.microdescDigestBase64, real.get(r.microdescDigestBase64) ?? syntheticMicrodesc(r.microdescDigestBase64)]));
const dir: NetDir = buildNetDir(consensus, microdescs);

// ---------------------------------------------------------------------------------------------
// The expected distribution, from the raw text.

interface RawRelay {
  readonly fingerprint: string;
  readonly flags: ReadonlySet<string>;
  readonly bandwidth: number;
}

/** The r, s and w lines of each entry, read without the consensus parser. */
function rawRelays(doc: string): RawRelay[] {
  const out: RawRelay[] = [];
  let fp = '';
  let flags = new Set<string>();
  for (const line of doc.split('\n')) {
    if (line.startsWith('r ')) {
      const idB64 = line.split(' ')[2]!;
      fp = toHex(Uint8Array.from(atob(idB64 + '='.repeat((4 - (idB64.length % 4)) % 4)), (c) => c.charCodeAt(0))).toUpperCase();
    } else if (line.startsWith('s ')) {
      flags = new Set(line.slice(2).split(' '));
    } else if (line.startsWith('w ')) {
      out.push({ fingerprint: fp, flags, bandwidth: Number(/Bandwidth=(\d+)/.exec(line)![1]) });
    }
  }
  return out;
}

const weights = new Map(/\nbandwidth-weights (.*)\n/.exec(text)![1]!.split(' ').map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1]) / 10000]));

type Position = 'guard' | 'middle' | 'exit';

/**
 * path-spec: a relay may be a guard with Guard, Running and Valid; a middle with Running, Valid and
 * Fast; an exit (for no particular port) with those and Exit, not BadExit. Its weight is its
 * bandwidth times W<position><role>, the role being d (Guard and a usable Exit), g (Guard), e
 * (usable Exit) or m (neither); tor counts a BadExit as no exit when weighting.
 */
function expectedWeight(r: RawRelay, position: Position): number {
  const f = r.flags;
  if (!f.has('Running') || !f.has('Valid')) return 0;
  if (position === 'guard' && !f.has('Guard')) return 0;
  if (position !== 'guard' && !f.has('Fast')) return 0;
  if (position === 'exit' && (!f.has('Exit') || f.has('BadExit'))) return 0;
  const guard = f.has('Guard');
  const exit = f.has('Exit') && !f.has('BadExit');
  const role = guard && exit ? 'd' : guard ? 'g' : exit ? 'e' : 'm';
  const p = position === 'guard' ? 'g' : position === 'middle' ? 'm' : 'e';
  if (p === 'g' && role === 'e') return 0;
  return r.bandwidth * weights.get(`W${p}${role}`)!;
}

/** Fingerprint → probability of being drawn for `position`. */
function expectedDistribution(relays: readonly RawRelay[], weight: (r: RawRelay) => number): Map<string, number> {
  const total = relays.reduce((s, r) => s + weight(r), 0);
  return new Map(relays.filter((r) => weight(r) > 0).map((r) => [r.fingerprint, weight(r) / total]));
}

/**
 * Pearson's chi-square of `observed` draws against `expected` over about `bins` bins of equal
 * expected mass (relays sorted by probability and cut where the cumulative mass crosses k/bins, so
 * big relays get bins of their own and the long tail is pooled), with its degrees of freedom.
 * Anything drawn outside the expected support makes it infinite.
 */
function chiSquare(observed: ReadonlyMap<string, number>, expected: ReadonlyMap<string, number>, bins: number): { chi: number; df: number } {
  const n = [...observed.values()].reduce((a, b) => a + b, 0);
  for (const fp of observed.keys()) if (!expected.has(fp)) return { chi: Infinity, df: 1 };
  const mass = new Array<number>(bins).fill(0);
  const count = new Array<number>(bins).fill(0);
  let before = 0;
  for (const [fp, p] of [...expected].sort((a, b) => b[1] - a[1])) {
    const bin = Math.min(bins - 1, Math.floor(before * bins));
    mass[bin]! += p;
    count[bin]! += observed.get(fp) ?? 0;
    before += p;
  }
  let chi = 0;
  let used = 0;
  for (let b = 0; b < bins; b++) {
    if (mass[b]! === 0) continue;
    chi += (count[b]! - n * mass[b]!) ** 2 / (n * mass[b]!);
    used++;
  }
  return { chi, df: used - 1 };
}

/** The chi-square distribution's 0.999 quantile (Wilson–Hilferty; within 1% for df >= 3). */
function chi2Quantile999(df: number): number {
  const z = 3.0902;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

const BINS = 20;
const DRAWS = 3000;

function draw(position: Position, seed: number): Map<string, number> {
  const opts: ChooseOptions = { random: seededRandom(seed) };
  const counts = new Map<string, number>();
  const pick = (): NetRelay => (position === 'guard' ? chooseGuardCandidate(dir, opts) : position === 'middle' ? chooseMiddle(dir, opts) : chooseExit(dir, undefined, opts));
  for (let i = 0; i < DRAWS; i++) {
    const r = pick();
    counts.set(r.fingerprint, (counts.get(r.fingerprint) ?? 0) + 1);
  }
  return counts;
}

/** Draws per role (d, g, e, m), observed and expected. */
function byRole(observed: ReadonlyMap<string, number>, expected: ReadonlyMap<string, number>, raws: ReadonlyMap<string, RawRelay>) {
  const role = (fp: string) => {
    const f = raws.get(fp)!.flags;
    const exit = f.has('Exit') && !f.has('BadExit');
    return f.has('Guard') && exit ? 'd' : f.has('Guard') ? 'g' : exit ? 'e' : 'm';
  };
  const obs: Record<string, number> = { d: 0, g: 0, e: 0, m: 0 };
  const exp: Record<string, number> = { d: 0, g: 0, e: 0, m: 0 };
  for (const [fp, c] of observed) obs[role(fp)]! += c;
  for (const [fp, p] of expected) exp[role(fp)]! += p * DRAWS;
  return { obs, exp };
}

function roleChiSquare(obs: Record<string, number>, exp: Record<string, number>): { chi: number; df: number } {
  let chi = 0;
  let df = -1;
  for (const k of Object.keys(exp)) {
    if (exp[k]! === 0) {
      if (obs[k]! > 0) return { chi: Infinity, df: 0 };
      continue;
    }
    chi += (obs[k]! - exp[k]!) ** 2 / exp[k]!;
    df++;
  }
  return { chi, df };
}

describe('path selection over the live network (2026-01-29)', FULL_SIZE, () => {
  const raws = rawRelays(text);
  const rawByFp = new Map(raws.map((r) => [r.fingerprint, r]));

  it('sees the whole network: 9,745 relays in the NetDir, the same as the raw text lists', () => {
    expect(raws.length).toBe(9745);
    expect(dir.relays.length).toBe(9745);
    expect(dir.relays.map((r) => r.fingerprint)).toEqual(raws.map((r) => r.fingerprint));
  });

  it('the consensus weights favour what they should: middles never take exits (Wme=0), guards share Guard+Exit relays (Wgd)', () => {
    expect(weights.get('Wme')).toBe(0);
    expect(weights.get('Wgd')).toBeCloseTo(0.1237, 10);
    expect(weights.get('Wee')).toBe(1);
  });

  const observed = new Map<Position, Map<string, number>>();
  for (const [position, seed] of [['guard', 1], ['middle', 2], ['exit', 3]] as const) {
    it(`${position}s are drawn as bandwidth × W${position[0]}* implies (chi-square over ${BINS} equal-mass bins, and per role)`, () => {
      const expected = expectedDistribution(raws, (r) => expectedWeight(r, position));
      const drawn = draw(position, seed);
      observed.set(position, drawn);
      expect([...drawn.values()].reduce((a, b) => a + b, 0)).toBe(DRAWS);

      const all = chiSquare(drawn, expected, BINS);
      expect(all.df).toBeGreaterThanOrEqual(BINS - 3);
      expect(all.chi, `chi-square ${all.chi.toFixed(1)} (df ${all.df}) against the weighted distribution`).toBeLessThan(chi2Quantile999(all.df));

      const { obs, exp } = byRole(drawn, expected, rawByFp);
      const roles = roleChiSquare(obs, exp);
      expect(roles.chi, `per role: drawn ${JSON.stringify(obs)}, expected ${JSON.stringify(exp)}`).toBeLessThan(chi2Quantile999(Math.max(1, roles.df)));

      // The test has power: with the weights ignored (bandwidth alone) the same draws fail, most
      // plainly in how they split between roles, which is what the weights set.
      const unweighted = expectedDistribution(raws, (r) => (expectedWeight(r, position) > 0 ? r.bandwidth : 0));
      const against = byRole(drawn, unweighted, rawByFp);
      const rolesAgainst = roleChiSquare(against.obs, against.exp);
      expect(rolesAgainst.chi, `weights ignored: expected ${JSON.stringify(against.exp)}`).toBeGreaterThan(chi2Quantile999(Math.max(1, rolesAgainst.df)));
    });
  }

  it('no middle is an exit-only relay, since Wme is 0; Guard+Exit relays still serve (Wmd)', () => {
    const middles = observed.get('middle')!;
    const roles = [...middles.keys()].map((fp) => rawByFp.get(fp)!.flags);
    expect(roles.some((f) => f.has('Exit') && !f.has('BadExit') && !f.has('Guard'))).toBe(false);
    expect(roles.some((f) => f.has('Exit') && f.has('Guard'))).toBe(true);
  });
});
