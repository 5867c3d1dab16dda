/**
 * The scale network (a developer tool): the public network's size and shape on loopback. A
 * private network's authorities cannot vote 9,700 relays, so this builds a microdesc consensus
 * from the live one of 2026-01-29 (shared/netdoc/fixtures/live-2026-01-29/: 9,745 entries, its
 * params, protocol lists, bandwidth-weights, `v`/`pr` lines, flags and bandwidths) and signs it
 * with the RUNNING private network's authority signing keys, with microdescriptors for every
 * entry, and writes it where a relay-bridge's DataDirectory keeps its directory cache: the relay
 * loads it at start as it loads any cached consensus, and serves it over BEGIN_DIR.
 *
 * What the consensus holds:
 * - the private network's relays (authorities, middles, exits of network.json) with their real
 *   r/m/s/v/pr lines and microdescriptors as its authorities serve them, so circuits through them
 *   work; to keep the count at 9,745 as many live entries without a sample microdescriptor are
 *   left out;
 * - every other live entry with its identity, nickname, flags, version, protocols and bandwidth,
 *   but a loopback address: 127.A.B.C with A ≥ 1 (one per relay, never 127.0.0.x where the private
 *   network listens), its `a` lines as [::1] with the same port. Nothing listens there, so a
 *   circuit that picks one fails at once and no byte ever leaves loopback;
 * - the 450 live microdescriptors as they are (their digests are the live `m` lines); for the
 *   others a generated one of the same shape: a sample's RSA onion key and exit-policy lines (an
 *   exit sample for Exit-flagged entries, a non-exit one for the rest), a fresh curve25519 ntor key
 *   and Ed25519 id, and a `family` line making the relay part of a mutual family whose size is
 *   drawn so that per-relay family sizes follow the sample's (members scattered over the identity
 *   order, as real operators' relays are). The `m` line is the SHA-256 of that text (dir-spec
 *   §3.3, base64 without padding).
 *
 * How the real relays win path selection: each gets `w Bandwidth=` REAL_RELAY_BANDWIDTH, the most
 * tor counts (it turns kilobytes into bytes in a signed 32-bit integer, so anything above
 * 2,147,483 weighs as much as 2,147,483), and every live entry's bandwidth is divided by
 * STAND_IN_BANDWIDTH_DIVISOR (1,000; at least 1 where the live one is not 0), which keeps the live
 * distribution's shape: the 9,7xx stand-ins together weigh about 218,165 (85,825 of it exits)
 * against 2,147,483 for each real relay. With the live bandwidth-weights a tor or Telescope client
 * then picks a stand-in as a middle with probability ≈ 1/100 and as an exit ≈ 1/50, and a circuit
 * that does fails at once (nothing listens there) and is rebuilt. (Giving the real relays more
 * than tor's cap instead, the live bandwidths kept, made tor pick stand-ins for about 6 circuits
 * in 7 and take a minute of failed circuits to bootstrap.) The guards test003r and test004r carry
 * the Guard flag and the same weight, so a client without a bridge samples them first (the live
 * params ask for 2 primary guards to use). The consensus' bandwidth-weights stay the live ones.
 *
 * Times: valid-after is `now` (newer than the private network's own consensus, which its
 * authorities make every voting interval from a time before now), fresh-until an hour later and
 * valid-until three: relays and clients keep it for that long before they look for a newer one.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, privateEncrypt, constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import { dirPortGet } from '../node-platform/dirport.ts';
import { TestnetError } from './errors.ts';
import type { TestnetDescription } from './index.ts';

/** The live network's documents this builds from. */
export const LIVE_FIXTURE_DIR = fileURLToPath(new URL('../shared/netdoc/fixtures/live-2026-01-29/', import.meta.url));

/** `w Bandwidth=` of the private network's relays: tor's largest, INT32_MAX / 1000 (see the module comment). */
export const REAL_RELAY_BANDWIDTH = 2_147_483;

/** The live bandwidths are divided by this for the stand-ins (see the module comment). */
export const STAND_IN_BANDWIDTH_DIVISOR = 1000;

/** A stand-in's `w` line: the live one with its Bandwidth divided, other keys (Unmeasured=1) kept. */
export function standInWeightLine(line: string): string {
  return line.replace(/\bBandwidth=(\d+)/, (_, bw: string) => {
    const live = Number(bw);
    return `Bandwidth=${live === 0 ? 0 : Math.max(1, Math.round(live / STAND_IN_BANDWIDTH_DIVISOR))}`;
  });
}

export interface ScaleNetwork {
  /** The signed microdesc consensus. */
  readonly consensus: string;
  /** Every entry's microdescriptor, concatenated in consensus order. */
  readonly microdescs: string;
  /** The private network's authority certificates (the consensus verifies under them). */
  readonly certs: string;
  readonly relayCount: number;
  /** Fingerprints (hex, upper case) of the private network's relays in it. */
  readonly realRelays: readonly string[];
  /** How many live microdescriptors are used as they are (the rest are generated). */
  readonly liveMicrodescs: number;
  readonly validAfter: Date;
  readonly freshUntil: Date;
  readonly validUntil: Date;
}

export interface ScaleOptions {
  /** valid-after; default: now. */
  readonly now?: Date;
  /** Seed of the choices of samples and families (keys are random regardless). */
  readonly seed?: number;
}

/** The live consensus and its 450 sample microdescriptors (by digest), decompressed. */
export function readLiveFixture(dir = LIVE_FIXTURE_DIR): { consensus: string; microdescs: Map<string, string> } {
  const consensus = brotliDecompressSync(readFileSync(join(dir, 'consensus-microdesc.br'))).toString('latin1');
  const microdescs = splitMicrodescs(brotliDecompressSync(readFileSync(join(dir, 'microdescriptors-sample.br'))).toString('latin1'));
  return { consensus, microdescs };
}

/** dir-spec §3.3: a microdescriptor's digest is SHA-256 over its text, base64 without padding. */
export function microdescDigest(text: string): string {
  return createHash('sha256').update(text, 'latin1').digest('base64').replace(/=+$/, '');
}

/** Microdescriptors (each starts with an "onion-key" line) by digest. */
export function splitMicrodescs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const md of text.split(/(?=^onion-key$)/m)) if (md.startsWith('onion-key\n')) out.set(microdescDigest(md), md);
  return out;
}

/** One router entry of a consensus, as its lines. */
interface Entry {
  lines: string[];
  /** The RSA identity, as the r line has it (base64) and as bytes for ordering. */
  readonly identity: Buffer;
}

/** Split a consensus into the preamble, its router entries, and the footer up to (not including) the signatures. */
function splitConsensus(text: string): { preamble: string[]; entries: Entry[]; footer: string[] } {
  const lines = text.split('\n');
  const firstR = lines.findIndex((l) => l.startsWith('r '));
  const footerAt = lines.indexOf('directory-footer');
  const firstSig = lines.findIndex((l) => l.startsWith('directory-signature '));
  if (firstR < 0 || footerAt < firstR || firstSig < footerAt) throw new TestnetError('consensus without router entries, footer or signatures');
  const entries: Entry[] = [];
  for (const l of lines.slice(firstR, footerAt)) {
    if (l.startsWith('r ')) entries.push({ lines: [l], identity: Buffer.from(l.split(' ')[2] ?? '', 'base64') });
    else entries.at(-1)!.lines.push(l);
  }
  return { preamble: lines.slice(0, firstR), entries, footer: lines.slice(footerAt, firstSig) };
}

const lineOf = (e: Entry, keyword: string) => e.lines.find((l) => l.startsWith(`${keyword} `));
const hexId = (e: Entry) => e.identity.toString('hex').toUpperCase();

/** dir-spec time format, "YYYY-MM-DD HH:MM:SS" in UTC. */
export const netdocTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

/** A small seeded generator (mulberry32): the same seed gives the same families and samples. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The key as base64 without padding, as microdescriptors write them. */
function freshKey(type: 'x25519' | 'ed25519'): string {
  return generateKeyPairSync(type as 'x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64').replace(/=+$/, '');
}

/** 127.A.B.C for the i-th stand-in relay, A ≥ 1: never where the private network listens. */
export function standInAddress(i: number): string {
  if (i < 0 || i >= 126 * 65536) throw new TestnetError(`no loopback address for stand-in relay ${i}`);
  return `127.${1 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
}

/** The private network's consensus entries and microdescriptors of its own relays, from an authority's DirPort. */
async function fetchRealRelays(desc: TestnetDescription): Promise<{ entries: Entry[]; microdescs: Map<string, string> }> {
  const wanted = new Set(desc.relays.map((r) => r.fingerprint));
  let lastError: unknown;
  for (const auth of desc.authorities) {
    try {
      const text = Buffer.from(await dirPortGet(auth.address, auth.dirPort, '/tor/status-vote/current/consensus-microdesc')).toString('latin1');
      const entries = splitConsensus(text).entries.filter((e) => wanted.has(hexId(e)));
      const missing = [...wanted].filter((fp) => !entries.some((e) => hexId(e) === fp));
      if (missing.length > 0) throw new TestnetError(`the private network's consensus does not list ${missing.join(', ')}`);
      const digests = entries.map((e) => lineOf(e, 'm')!.slice(2));
      const microdescs = splitMicrodescs(Buffer.from(await dirPortGet(auth.address, auth.dirPort, `/tor/micro/d/${digests.join('-')}`)).toString('latin1'));
      const lacking = digests.filter((d) => !microdescs.has(d));
      if (lacking.length > 0) throw new TestnetError(`${auth.nickname} did not serve microdescriptors ${lacking.join(', ')}`);
      return { entries, microdescs };
    } catch (e) {
      lastError = e;
    }
  }
  throw new TestnetError(`no authority of ${desc.dir} gave its consensus and microdescriptors: ${lastError instanceof Error ? lastError.message : String(lastError)}`, { cause: lastError });
}

/** An authority's signing key, its digest as signature lines name it, and its certificate. */
interface AuthoritySigner {
  readonly nickname: string;
  readonly v3ident: string;
  readonly address: string;
  readonly dirPort: number;
  readonly orPort: number;
  readonly signingKeyPem: string;
  /** Hex SHA-1 of the signing key's PKCS#1 DER (dir-spec: "signing-key-digest"). */
  readonly signingKeyDigest: string;
  readonly certificate: string;
}

async function authoritySigners(desc: TestnetDescription): Promise<AuthoritySigner[]> {
  return Promise.all(desc.authorities.map(async (a) => {
    const dir = desc.processes.find((p) => p.nickname === a.nickname)?.dir ?? join(desc.dir, a.nickname);
    const signingKeyPem = await readFile(join(dir, 'keys', 'authority_signing_key'), 'utf8');
    const certificate = await readFile(join(dir, 'keys', 'authority_certificate'), 'utf8');
    const der = createPublicKey(createPrivateKey(signingKeyPem)).export({ format: 'der', type: 'pkcs1' });
    return { nickname: a.nickname, v3ident: a.v3ident, address: a.address, dirPort: a.dirPort, orPort: a.orPort, signingKeyPem, certificate, signingKeyDigest: createHash('sha1').update(der).digest('hex').toUpperCase() };
  }));
}

/** The sample's microdescriptors split by whether they exit, with their family sizes. */
interface Template {
  readonly text: string;
  readonly familySize: number;
}

function templatesOf(samples: Iterable<string>): { exits: Template[]; others: Template[] } {
  const exits: Template[] = [];
  const others: Template[] = [];
  for (const text of samples) {
    const family = /^family (.*)$/m.exec(text);
    const t = { text, familySize: family ? family[1]!.split(' ').length : 0 };
    (/^p accept /m.test(text) ? exits : others).push(t);
  }
  if (exits.length === 0 || others.length === 0) throw new TestnetError('the live sample needs exit and non-exit microdescriptors');
  return { exits, others };
}

/**
 * Families for the stand-ins: each relay's family size follows the sample's per-relay sizes. A
 * family of n members holds n relays that each report size n − 1, so a family is started from a
 * sample with weight 1/(size + 1); its members are the next relays of a shuffled order.
 */
function assignFamilies(ids: readonly string[], templates: readonly Template[], random: () => number): Map<string, string[]> {
  const order = ids.map((id) => ({ id, key: random() })).sort((a, b) => a.key - b.key).map((x) => x.id);
  const weights = templates.map((t) => 1 / (t.familySize + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const pick = () => {
    let r = random() * total;
    for (let i = 0; i < templates.length; i++) if ((r -= weights[i]!) <= 0) return templates[i]!;
    return templates.at(-1)!;
  };
  const families = new Map<string, string[]>();
  for (let i = 0; i < order.length;) {
    const size = Math.min(pick().familySize + 1, order.length - i);
    const members = order.slice(i, i + size);
    if (size > 1) for (const m of members) families.set(m, members.filter((x) => x !== m).sort());
    i += size;
  }
  return families;
}

/** A stand-in's microdescriptor: the template's onion key and policy, fresh ntor key and id, its family. */
function standInMicrodesc(template: Template, family: readonly string[] | undefined): string {
  const out: string[] = [];
  for (const line of template.text.split('\n')) {
    if (line.startsWith('family ')) continue;
    if (line.startsWith('ntor-onion-key ')) {
      out.push(`ntor-onion-key ${freshKey('x25519')}`);
      if (family && family.length > 0) out.push(`family ${family.map((f) => `$${f}`).join(' ')}`);
    } else if (line.startsWith('id ed25519 ')) out.push(`id ed25519 ${freshKey('ed25519')}`);
    else out.push(line);
  }
  return out.join('\n');
}

/**
 * dir-spec §3.4.1: each signature covers the SHA-256 of the text from "network-status-version"
 * through the space after the first "directory-signature"; tor signs the bare digest with PKCS#1
 * v1.5 padding (no DigestInfo).
 */
function signatureBlocks(signedText: string, signers: readonly AuthoritySigner[]): string {
  const digest = createHash('sha256').update(signedText, 'latin1').digest();
  return signers.map((s, i) => {
    const sig = privateEncrypt({ key: s.signingKeyPem, padding: constants.RSA_PKCS1_PADDING }, digest).toString('base64');
    const head = `${i === 0 ? '' : 'directory-signature '}sha256 ${s.v3ident} ${s.signingKeyDigest}\n`;
    return `${head}-----BEGIN SIGNATURE-----\n${sig.match(/.{1,64}/g)!.join('\n')}\n-----END SIGNATURE-----\n`;
  }).join('');
}

/** Build the scale network's documents for the running private network `desc`. */
export async function buildScaleNetwork(desc: TestnetDescription, opts: ScaleOptions = {}): Promise<ScaleNetwork> {
  const random = seededRandom(opts.seed ?? 20260129);
  const validAfter = new Date(Math.floor((opts.now ?? new Date()).getTime() / 1000) * 1000);
  const freshUntil = new Date(validAfter.getTime() + 3600_000);
  const validUntil = new Date(validAfter.getTime() + 3 * 3600_000);
  const live = readLiveFixture();
  const { preamble, entries: liveEntries, footer } = splitConsensus(live.consensus);
  const real = await fetchRealRelays(desc);
  const signers = await authoritySigners(desc);

  // Keep the live count: leave out as many live entries as there are real relays, last first
  // among those without a sample microdescriptor.
  const withoutSample = liveEntries.filter((e) => !live.microdescs.has(lineOf(e, 'm')!.slice(2)));
  const dropped = new Set(withoutSample.slice(-real.entries.length));
  const standIns = liveEntries.filter((e) => !dropped.has(e));

  const templates = templatesOf(live.microdescs.values());
  const needGenerated = standIns.filter((e) => !live.microdescs.has(lineOf(e, 'm')!.slice(2)));
  const families = assignFamilies(needGenerated.map(hexId), [...templates.exits, ...templates.others], random);
  const microdescByEntry = new Map<Entry, string>();
  let liveUsed = 0;
  standIns.forEach((e, i) => {
    const r = e.lines[0]!.split(' ');
    // r NICKNAME IDENTITY DATE TIME ADDRESS ORPORT DIRPORT
    r[5] = standInAddress(i);
    e.lines[0] = r.join(' ');
    e.lines = e.lines.map((l) => (l.startsWith('a ') ? `a [::1]:${l.slice(l.lastIndexOf(':') + 1)}` : l.startsWith('w ') ? standInWeightLine(l) : l));
    const m = lineOf(e, 'm')!.slice(2);
    let md = live.microdescs.get(m);
    if (md) liveUsed++;
    else {
      const flags = lineOf(e, 's')!.split(' ');
      const pool = flags.includes('Exit') ? templates.exits : templates.others;
      md = standInMicrodesc(pool[Math.floor(random() * pool.length)]!, families.get(hexId(e)));
      e.lines = e.lines.map((l) => (l.startsWith('m ') ? `m ${microdescDigest(md!)}` : l));
    }
    microdescByEntry.set(e, md);
  });
  for (const e of real.entries) {
    e.lines = e.lines.map((l) => (l.startsWith('w ') ? `w Bandwidth=${REAL_RELAY_BANDWIDTH}` : l));
    microdescByEntry.set(e, real.microdescs.get(lineOf(e, 'm')!.slice(2))!);
  }
  const all = [...standIns, ...real.entries].sort((a, b) => Buffer.compare(a.identity, b.identity));

  const header = preamble
    .filter((l) => !l.startsWith('dir-source ') && !l.startsWith('contact ') && !l.startsWith('vote-digest '))
    .map((l) => {
      if (l.startsWith('valid-after ')) return `valid-after ${netdocTime(validAfter)}`;
      if (l.startsWith('fresh-until ')) return `fresh-until ${netdocTime(freshUntil)}`;
      if (l.startsWith('valid-until ')) return `valid-until ${netdocTime(validUntil)}`;
      return l;
    });
  // dir-spec: dir-source entries in order of the authorities' identities.
  const dirSources = [...signers].sort((a, b) => a.v3ident.localeCompare(b.v3ident)).flatMap((s) => [
    `dir-source ${s.nickname} ${s.v3ident} ${s.address} ${s.address} ${s.dirPort} ${s.orPort}`,
    `contact Telescope scale network <${s.nickname}@localhost>`,
    `vote-digest ${createHash('sha1').update(`${s.v3ident} ${netdocTime(validAfter)}`).digest('hex').toUpperCase()}`,
  ]);
  const signed = [...header, ...dirSources, ...all.flatMap((e) => e.lines), ...footer, 'directory-signature '].join('\n');
  const consensus = signed + signatureBlocks(signed, signers);
  return {
    consensus,
    microdescs: all.map((e) => microdescByEntry.get(e)!).join(''),
    certs: signers.map((s) => s.certificate).join(''),
    relayCount: all.length,
    realRelays: real.entries.map(hexId),
    liveMicrodescs: liveUsed,
    validAfter,
    freshUntil,
    validUntil,
  };
}

/**
 * Where a relay-bridge (and a Node client) keeps its directory cache: DataDirectory/cache, one
 * file per document (relay-bridge/relay/relay.ts). A relay started on this DataDirectory loads
 * them as its cached consensus, certificates and microdescriptors, verifies them again, and
 * serves them while they are current.
 */
export async function writeDirectoryCache(cacheDir: string, net: ScaleNetwork): Promise<void> {
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  await writeFile(join(cacheDir, 'consensus-microdesc'), net.consensus, 'latin1');
  await writeFile(join(cacheDir, 'cached-certs'), net.certs, 'latin1');
  await writeFile(join(cacheDir, 'cached-microdescs'), net.microdescs, 'latin1');
}
