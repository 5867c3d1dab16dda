import { CertificateError, ListInterner, TelescopeError } from '../util/index.ts';
import { buildNetDir, type NetDir } from '../netdir/index.ts';
import { toHex } from '../bytes/index.ts';
import {
  applyConsensusDiff, consensusDigestAsSigned, ConsensusDiffError, looksLikeConsensusDiff, parseAuthCerts, parseConsensus, ConsensusRejectedError, parseMicrodescs,
  type AuthCert, type AuthorityId, type Consensus, type UnverifiedConsensus, type Microdesc,
} from '../netdoc/index.ts';
import { checkConsensusProtocols, type SoftwareProtocols } from './protocol-check.ts';

/**
 * The directory side of bootstrapping, as a state machine with no I/O (like Arti's dirmgr
 * states): it says which documents to fetch next, takes the documents that arrive, verifies them,
 * and yields a NetDir once it has a verified consensus and enough microdescriptors. The client
 * performs the fetches (over BEGIN_DIR, or an authority's DirPort at first bootstrap) and stores
 * `stored()` so that a restart resumes without a full bootstrap.
 */

export type DirPhase = 'need-consensus' | 'need-certs' | 'need-microdescs' | 'ready';

export interface DirRequest {
  readonly kind: 'consensus' | 'certs' | 'microdescs';
  readonly path: string;
  /** For microdescriptor requests: the digests (base64, unpadded) the path asks for. */
  readonly digests?: readonly string[];
  /**
   * For a consensus: the SHA3-256 (as signed, hex) of the consensus we hold, sent as tor's clients
   * do in `X-Or-Diff-From-Consensus` so the cache may answer with a diff from it (dir-spec
   * "Consensus diffs"); the cache still sends the whole document when it has no such diff.
   */
  readonly diffFrom?: string;
}

/** What changed since the last `takeChanges()`: lets a host write only that (see DirectoryStore). */
export interface DirectoryChanges {
  /** The consensus text, when a new one was accepted. */
  readonly consensus?: string;
  /** All certificate texts, when a new certificate arrived. */
  readonly certs?: string;
  /** Microdescriptors added since, concatenated (empty when none). */
  readonly addedMicrodescs: string;
  /** Microdescriptors were dropped (a new consensus no longer lists them): the stored set must be rewritten. */
  readonly microdescsDropped: boolean;
}

/** A microdescriptor answer checked against the request it answers. */
export interface MicrodescBatchResult {
  /** New microdescriptors kept. */
  readonly added: number;
  /** Microdescriptors in the answer that the request did not ask for: dropped, the cache is at fault. */
  readonly unrequested: number;
  /** Digests asked for that the answer lacked: to be asked for again (elsewhere). */
  readonly missing: readonly string[];
}

/** The path of the microdesc consensus (dir-spec "Downloading network-status documents"). */
export const CONSENSUS_PATH = '/tor/status-vote/current/consensus-microdesc';
/** The header a client names the consensus it holds in, asking for a diff from it. */
export const DIFF_FROM_HEADER = 'X-Or-Diff-From-Consensus';
/** tor's caches keep consensuses (and serve diffs from them) for up to 72 hours. */
const MAX_PREVIOUS_CONSENSUS_AGE_MS = 72 * 3600_000;

/** A consensus kept after a newer one replaced it, to serve diffs from (a directory cache's). */
export interface PreviousConsensus {
  readonly text: string;
  /** SHA3-256 as signed, lower-case hex: what clients name it by. */
  readonly digest: string;
  readonly validAfter: Date;
}

/** Documents as the host stores them (text, so they can be re-verified on load). */
export interface StoredDirectory {
  readonly consensus?: string;
  readonly certs?: string;
  readonly microdescs?: string;
}

/**
 * How tor splits microdescriptor downloads (routerlist.c, launch_descriptor_downloads): at most 92
 * digests per request (so the URL stays short enough for every cache), spread over at least 3
 * requests so that several caches share the work, but no request for fewer than 32 unless fewer
 * are missing (a request has a fixed cost).
 */
const MAX_MICRODESCS_PER_REQUEST = 92;
const MIN_MICRODESCS_PER_REQUEST = 32;
const MIN_MICRODESC_REQUESTS = 3;
const MICRODESC_PATH = '/tor/micro/d/';

/** Digests per microdescriptor request when `missing` are wanted (tor's rule, above). */
export function microdescBatchSize(missing: number): number {
  const perRequest = Math.min(MAX_MICRODESCS_PER_REQUEST, Math.ceil(missing / MIN_MICRODESC_REQUESTS));
  return Math.max(perRequest, Math.min(MIN_MICRODESCS_PER_REQUEST, missing));
}

/** The request for these microdescriptor digests (base64, unpadded). */
export function microdescRequest(digests: readonly string[]): DirRequest {
  return { kind: 'microdescs', path: `${MICRODESC_PATH}${digests.join('-')}`, digests: [...digests] };
}

/** Build circuits once this share of relays (by count) has microdescriptors (tor: 60% by bandwidth). */
const ENOUGH_MICRODESCS = 0.6;

export class DirectoryState {
  private certs: AuthCert[] = [];
  private certTexts = new Map<string, string>();
  private pending: { unverified: UnverifiedConsensus; text: string } | undefined;
  private consensus: { verified: Consensus; text: string; digest?: Uint8Array } | undefined;
  /** Replaced consensuses a directory cache keeps to serve diffs from, newest first. */
  private previous: PreviousConsensus[] = [];
  /** Consensus diffs applied, and refused (then the whole document is fetched), since creation. */
  diffsApplied = 0;
  diffsRefused = 0;
  private microdescs = new Map<string, Microdesc>();
  /** Digests requested but not yet answered (not asked again until `retry`). */
  private inFlight = new Set<string>();
  /** When to fetch the next consensus: a random point between fresh-until and valid-until. */
  private refreshAt = 0;
  private netDirCache: NetDir | undefined;
  /**
   * Microdescriptor coverage of the current consensus, kept until either changes: phase() needs it
   * on every netDir() call, and a relay asks for netDir on every connection it admits (a scan of
   * ~9,700 relays per connection would make each one an amplifier).
   */
  private coverageCache: { have: number; total: number } | undefined;
  /** Change tracking for takeChanges(). */
  private consensusUnsaved = false;
  private certsUnsaved = false;
  private microdescsDropped = false;
  private unsavedMicrodescs: Microdesc[] = [];
  private wanted: { consensus: Consensus | undefined; digests: Set<string> } | undefined;
  /** Family lists shared among the microdescriptors we hold (rebuilt when a consensus drops some). */
  private families = new ListInterner();

  /** The recommended-protocols warning of the consensus in use, if it gave one. */
  private warning: string | undefined;

  constructor(
    private readonly authorities: readonly AuthorityId[],
    private readonly opts: {
      skewMs?: number;
      random?: () => number;
      /** How many replaced consensuses to keep for serving diffs (a directory cache's; default none). */
      keepPreviousConsensuses?: number;
      /** What this software implements: each verified consensus is checked against it (protocol-check.ts). */
      protocols?: SoftwareProtocols;
    } = {},
  ) {}

  /** The warning the consensus in use gave about recommended protocols this build lacks. */
  get protocolWarning(): string | undefined {
    return this.warning;
  }

  /** Where bootstrapping stands at `now`. */
  phase(now: Date): DirPhase {
    if (!this.consensus || now.getTime() > this.consensus.verified.validUntil.getTime() + (this.opts.skewMs ?? 0)) {
      // A consensus whose certificates never came is useless once expired: fetch a new one.
      return this.pendingUsable(now) ? 'need-certs' : 'need-consensus';
    }
    return this.hasEnoughMicrodescs() ? 'ready' : 'need-microdescs';
  }

  private pendingUsable(now: Date): boolean {
    return this.pending !== undefined && now.getTime() <= this.pending.unverified.unchecked.validUntil.getTime() + (this.opts.skewMs ?? 0);
  }

  private certsRequest(): DirRequest {
    const missing = this.pending!.unverified.missingCerts(this.authorities, this.certs);
    return { kind: 'certs', path: `/tor/keys/fp-sk/${missing.map((m) => `${m.identity}-${m.signingKeyDigest}`).join('+')}` };
  }

  /** The verified consensus in use, if any. */
  get current(): Consensus | undefined {
    return this.consensus?.verified;
  }

  /** Whether it is time to fetch a newer consensus (while the current one is still usable). */
  wantsRefresh(now: Date): boolean {
    return this.consensus !== undefined && now.getTime() >= this.refreshAt;
  }

  /** What to fetch next. Microdescriptor requests exclude those already in flight. */
  nextRequests(now: Date): DirRequest[] {
    const phase = this.phase(now);
    if (phase === 'need-consensus') return [this.consensusRequest()];
    if (phase === 'need-certs') return [this.certsRequest()];
    const out: DirRequest[] = [];
    const missing = this.missingMicrodescs().filter((d) => !this.inFlight.has(d));
    const size = microdescBatchSize(missing.length);
    for (let i = 0; i < missing.length; i += size) {
      const batch = missing.slice(i, i + size);
      for (const d of batch) this.inFlight.add(d);
      out.push(microdescRequest(batch));
    }
    // A newer consensus waits for certificates (the authorities rotated their signing keys): fetch
    // them while the current consensus still works, rather than the same consensus again.
    if (this.pendingUsable(now)) out.push(this.certsRequest());
    else if (this.wantsRefresh(now)) out.push(this.consensusRequest());
    return out;
  }

  /** A consensus request: asking for a diff from the consensus we hold, if we hold one. */
  private consensusRequest(): DirRequest {
    const digest = this.consensusDigest();
    return digest ? { kind: 'consensus', path: CONSENSUS_PATH, diffFrom: digest } : { kind: 'consensus', path: CONSENSUS_PATH };
  }

  /** SHA3-256 of the consensus we hold, as signed (hex), worked out once per consensus. */
  consensusDigest(): string | undefined {
    if (!this.consensus) return undefined;
    this.consensus.digest ??= consensusDigestAsSigned(this.consensus.text);
    return toHex(this.consensus.digest);
  }

  /**
   * The answer to a consensus request: a consensus, or a diff from the one we hold (a cache sends
   * one when asked with `diffFrom`). A diff is applied (its base and result digests checked) and
   * the result verified like any consensus. Throws ConsensusDiffError when the diff cannot be
   * used: the caller then fetches the whole document.
   */
  addConsensusResponse(text: string, now: Date): { outcome: 'accepted' | 'need-certs'; fromDiff: boolean } {
    if (!looksLikeConsensusDiff(text)) return { outcome: this.addConsensus(text, now), fromDiff: false };
    try {
      if (!this.consensus) throw new ConsensusDiffError('base-mismatch', 'a diff arrived but we hold no consensus to apply it to');
      this.consensusDigest();
      const full = applyConsensusDiff(this.consensus.text, text, { baseDigestAsSigned: this.consensus.digest! });
      const outcome = this.addConsensus(full, now);
      this.diffsApplied++;
      return { outcome, fromDiff: true };
    } catch (e) {
      this.diffsRefused++;
      throw e;
    }
  }

  /** A replaced consensus we keep, by its digest as signed (hex), to serve a diff from. */
  previousConsensus(digest: string): PreviousConsensus | undefined {
    const d = digest.toLowerCase();
    return this.previous.find((p) => p.digest === d);
  }

  /** The digests (as signed, hex) of the replaced consensuses we keep, newest first. */
  previousConsensusDigests(): string[] {
    return this.previous.map((p) => p.digest);
  }

  /** A request failed: its microdescriptors may be asked for again. */
  requestFailed(req: DirRequest): void {
    if (req.kind === 'microdescs') for (const d of req.digests ?? req.path.slice(MICRODESC_PATH.length).split('-')) this.inFlight.delete(d);
  }

  /**
   * Microdescriptors arrived in answer to a request for `asked`. Only those asked for (and listed
   * in the consensus) are kept: a cache that sends others is misbehaving, and what it sent is not
   * trusted to fill other gaps. Digests asked for but not answered leave the in-flight set, so a
   * later `nextRequests` (or the caller, elsewhere) asks again.
   */
  addMicrodescBatch(text: string, asked: readonly string[]): MicrodescBatchResult {
    const askedSet = new Set(asked);
    const wanted = this.wantedDigests();
    const received = new Set<string>();
    let added = 0, unrequested = 0;
    for (const md of parseMicrodescs(text, { allowAnnotations: true })) {
      if (!askedSet.has(md.digestBase64) || !wanted.has(md.digestBase64)) { unrequested++; continue; }
      received.add(md.digestBase64);
      if (this.keepMicrodesc(md)) added++;
    }
    for (const d of asked) this.inFlight.delete(d);
    if (added > 0) this.microdescsChanged();
    return { added, unrequested, missing: asked.filter((d) => !received.has(d) && !this.microdescs.has(d)) };
  }

  /**
   * Put `md` in the set; true when it is new. Its family list is shared with the other members of
   * its family (ListInterner): on the live network that is most of the microdescriptors' memory.
   */
  private keepMicrodesc(parsed: Microdesc): boolean {
    if (this.microdescs.has(parsed.digestBase64)) return false;
    const family = this.families.share(parsed.family);
    const md = family === parsed.family ? parsed : { ...parsed, family };
    this.microdescs.set(md.digestBase64, md);
    this.unsavedMicrodescs.push(md);
    return true;
  }

  private microdescsChanged(): void {
    this.netDirCache = undefined;
    this.coverageCache = undefined;
  }

  /** What changed since the previous call (for incremental persistence). */
  takeChanges(): DirectoryChanges {
    const changes: DirectoryChanges = {
      ...(this.consensusUnsaved && this.consensus ? { consensus: this.consensus.text } : {}),
      ...(this.certsUnsaved ? { certs: [...this.certTexts.values()].join('') } : {}),
      addedMicrodescs: this.unsavedMicrodescs.map((m) => m.text).join(''),
      microdescsDropped: this.microdescsDropped,
    };
    this.consensusUnsaved = this.certsUnsaved = this.microdescsDropped = false;
    this.unsavedMicrodescs = [];
    return changes;
  }

  /**
   * A consensus arrived. Returns 'accepted', or 'need-certs' when certificates must be fetched
   * first. Throws ConsensusRejectedError / ProtocolError when it must be discarded.
   */
  addConsensus(text: string, now: Date): 'accepted' | 'need-certs' {
    const unverified = parseConsensus(text);
    if (this.consensus && unverified.unchecked.validAfter.getTime() <= this.consensus.verified.validAfter.getTime()) {
      throw new ConsensusRejectedError('expired', `not newer than the consensus we have (valid-after ${unverified.unchecked.validAfter.toISOString()})`, { validSignatures: 0, required: 0, authorities: this.authorities.length, missingCerts: [] });
    }
    if (unverified.missingCerts(this.authorities, this.certs).length > 0) {
      // Without the missing certificates a majority may still verify: try before fetching.
      try {
        this.accept(unverified, text, now);
        return 'accepted';
      } catch (e) {
        if (!(e instanceof ConsensusRejectedError) || e.reason !== 'not-enough-signatures') throw e;
      }
      this.pending = { unverified, text };
      return 'need-certs';
    }
    this.accept(unverified, text, now);
    return 'accepted';
  }

  /** Authority certificates arrived (one or more concatenated). Returns how many were new and valid. */
  addCerts(text: string, now: Date): number {
    const wanted = new Set(this.authorities.map((a) => a.fingerprint.toUpperCase()));
    let added = 0;
    for (const u of parseAuthCerts(text)) {
      if (!wanted.has(u.unchecked.fingerprint)) continue; // certificates of authorities we do not trust are useless
      const cert = u.check(now, { skewMs: this.opts.skewMs ?? 0 });
      const key = `${cert.fingerprint}-${cert.signingKeyDigest}`;
      if (this.certTexts.has(key)) continue;
      this.certs.push(cert);
      this.certTexts.set(key, cert.text);
      this.certsUnsaved = true;
      added++;
    }
    if (this.pending) {
      const { unverified, text: ctext } = this.pending;
      if (unverified.missingCerts(this.authorities, this.certs).length === 0 || added > 0) {
        try {
          this.accept(unverified, ctext, now);
          this.pending = undefined;
        } catch (e) {
          if (!(e instanceof ConsensusRejectedError && e.reason === 'not-enough-signatures' && unverified.missingCerts(this.authorities, this.certs).length > 0)) {
            this.pending = undefined;
            throw e;
          }
        }
      }
    }
    return added;
  }

  /** Microdescriptors arrived. Only those the consensus lists are kept. */
  addMicrodescs(text: string): { added: number; unknown: number } {
    const wanted = this.wantedDigests();
    let added = 0, unknown = 0;
    for (const md of parseMicrodescs(text, { allowAnnotations: true })) {
      this.inFlight.delete(md.digestBase64);
      if (!wanted.has(md.digestBase64)) { unknown++; continue; }
      if (this.keepMicrodesc(md)) added++;
    }
    if (added > 0) this.microdescsChanged();
    return { added, unknown };
  }

  /** Digests (base64) listed in the consensus whose microdescriptor we lack. */
  missingMicrodescs(): string[] {
    if (!this.consensus) return [];
    return this.consensus.verified.routers.map((r) => r.microdescDigestBase64).filter((d) => !this.microdescs.has(d));
  }

  /** Share of listed relays whose microdescriptors we have (for progress reports). */
  microdescCoverage(): { have: number; total: number } {
    if (!this.coverageCache) {
      const total = this.consensus?.verified.routers.length ?? 0;
      this.coverageCache = { have: total - this.missingMicrodescs().length, total };
    }
    return this.coverageCache;
  }

  /** The usable network view, once ready. */
  netDir(now: Date): NetDir | undefined {
    if (this.phase(now) !== 'ready') return undefined;
    this.netDirCache ??= buildNetDir(this.consensus!.verified, this.microdescs);
    return this.netDirCache;
  }

  /** The accepted consensus' text, as served to others by a directory cache. */
  consensusText(): string | undefined {
    return this.consensus?.text;
  }

  /** Texts of the verified authority certificates we hold. */
  certificateTexts(): { fingerprint: string; signingKeyDigest: string; text: string }[] {
    return [...this.certTexts.entries()].map(([key, text]) => {
      const [fingerprint, signingKeyDigest] = key.split('-') as [string, string];
      return { fingerprint, signingKeyDigest, text };
    });
  }

  /** The microdescriptor with this digest (base64, no padding), if we hold it. */
  microdescFor(digest: string): Microdesc | undefined {
    return this.microdescs.get(digest);
  }

  /** Texts of the microdescriptors with these digests (base64, no padding) that we hold. */
  microdescTexts(digests: readonly string[]): string[] {
    return digests.flatMap((d) => {
      const md = this.microdescs.get(d);
      return md ? [md.text] : [];
    });
  }

  /** What to persist. */
  stored(): StoredDirectory {
    return {
      ...(this.consensus ? { consensus: this.consensus.text } : {}),
      certs: [...this.certTexts.values()].join(''),
      microdescs: [...this.microdescs.values()].map((m) => m.text).join(''),
    };
  }

  /** Reload persisted documents; everything is verified again. Returns what could not be used. */
  restore(stored: StoredDirectory, now: Date): string[] {
    const problems: string[] = [];
    const attempt = (what: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        // A cached consensus that requires protocols we lack stops us as a fetched one does (tor
        // checks it before anything else, and tor-spec says not to fetch a newer one then).
        if (!(e instanceof TelescopeError) || e.kind === 'protocols-missing') throw e;
        problems.push(`${what}: ${e.message}`);
      }
    };
    if (stored.certs) attempt('stored certificates', () => this.addCerts(stored.certs!, now));
    if (stored.consensus) attempt('stored consensus', () => {
      if (this.addConsensus(stored.consensus!, now) === 'need-certs') {
        this.pending = undefined;
        throw new CertificateError('stored consensus', 'its authority certificates are missing');
      }
    });
    if (stored.microdescs && this.consensus) attempt('stored microdescriptors', () => this.addMicrodescs(stored.microdescs!));
    return problems;
  }

  /** Digests the current consensus lists (kept per consensus: every microdescriptor batch asks). */
  private wantedDigests(): Set<string> {
    if (!this.wanted || this.wanted.consensus !== this.consensus?.verified) {
      this.wanted = { consensus: this.consensus?.verified, digests: new Set(this.consensus?.verified.routers.map((r) => r.microdescDigestBase64) ?? []) };
    }
    return this.wanted!.digests;
  }

  private accept(unverified: UnverifiedConsensus, text: string, now: Date): void {
    const verified = unverified.check(this.authorities, this.certs, now, { skewMs: this.opts.skewMs ?? 0 });
    // After the signatures (an unsigned document must not stop us), before it is used.
    const protocols = this.opts.protocols ? checkConsensusProtocols(verified, this.opts.protocols) : undefined;
    this.warning = protocols?.warning;
    this.rememberReplaced(verified.validAfter);
    this.consensus = { verified, text };
    this.consensusUnsaved = true;
    this.pending = undefined;
    this.microdescsChanged();
    // Forget microdescriptors the new consensus no longer lists.
    const wanted = this.wantedDigests();
    for (const d of [...this.microdescs.keys()]) {
      if (wanted.has(d)) continue;
      this.microdescs.delete(d);
      this.microdescsDropped = true;
    }
    if (this.microdescsDropped) {
      this.unsavedMicrodescs = this.unsavedMicrodescs.filter((m) => wanted.has(m.digestBase64));
      // Forget the families only dropped relays had.
      this.families = new ListInterner();
      for (const md of this.microdescs.values()) this.families.share(md.family);
    }
    // dir-spec "How clients download": refresh at a random time in the first 3/4 of the
    // interval between fresh-until and valid-until... clamped so a test network refreshes too.
    const fresh = verified.freshUntil.getTime();
    const valid = verified.validUntil.getTime();
    const r = (this.opts.random ?? Math.random)();
    this.refreshAt = fresh + Math.floor(r * 0.75 * Math.max(0, valid - fresh));
  }

  /** Keep the consensus being replaced (a directory cache's option), within count and age bounds. */
  private rememberReplaced(newValidAfter: Date): void {
    const keep = this.opts.keepPreviousConsensuses ?? 0;
    const old = this.consensus;
    if (keep <= 0 || !old) return;
    this.consensusDigest();
    this.previous.unshift({ text: old.text, digest: toHex(old.digest!), validAfter: old.verified.validAfter });
    this.previous = this.previous
      .filter((p) => newValidAfter.getTime() - p.validAfter.getTime() <= MAX_PREVIOUS_CONSENSUS_AGE_MS)
      .slice(0, keep);
  }

  private hasEnoughMicrodescs(): boolean {
    const { have, total } = this.microdescCoverage();
    return total > 0 && have / total >= ENOUGH_MICRODESCS && have >= Math.min(3, total);
  }
}
