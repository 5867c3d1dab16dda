import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, toHex, utf8 } from '../bytes/index.ts';
import { RelayCmd, EndReason, Rendezvous1, type Begin, type Introduce2 } from '../cells/index.ts';
import { linkSpecifiersFor } from '../circuit/index.ts';
import { DirectoryHttpError, dirPost, type CircuitManager, type ManagedCircuit } from '../circmgr/index.ts';
import { hsV3KeysFrom, reverseHopKeys, generateNtorKeyPair, secureRandomBytes, type NtorKeyPair, type RandomBytes } from '../crypto/index.ts';
import { TelescopeError, UsageError, silentLogger, type Logger } from '../util/index.ts';
import { describeRelay, relayTarget, supportsExtend2, supportsHsIntroDoS, supportsHsIntroV3, type NetDir, type NetRelay } from '../netdir/index.ts';
import { hasFlagsFor, pickWeighted, positionWeight } from '../path/index.ts';
import type { TorStream } from '../stream/index.ts';
import { encodeOnionAddress } from './address.ts';
import { CircuitMessages } from './circuit-messages.ts';
import { relayFromLinkSpecifiers } from './client.ts';
import { buildDescriptor, DEFAULT_CERT_LIFETIME_HOURS } from './descriptor.ts';
import { responsibleHsDirs, ringFor } from './hsdir-ring.ts';
import { buildEstablishIntro, dosExtension } from './establish-intro.ts';
import type { HsNtorServicePending } from './hs-ntor.ts';
import { IntroductionGate } from './introduction-gate.ts';
import { RENDEZVOUS_COOKIE_LEN, type IntroducePlaintext } from './introduce.ts';
import { DEFAULT_MAX_INTRODUCTIONS_PER_POINT, ReplayCache } from './replay-cache.ts';
import { nextRevisionCounter } from './revision-counter.ts';
import { blindKeypair, signWithExpandedKey, subcredential, type BlindedKeypair } from './keys.ts';
import { hsDirSchedule, timePeriodConfig, timePeriodStart, type RingUse, type TimePeriodConfig } from './time-period.ts';

/**
 * The service side of onion services v3 (rend-spec-v3 §2–4, [EST_INTRO], [PROCESS_INTRO2],
 * [JOIN_REND]): keep introduction points open, publish descriptors naming them to the HSDirs of
 * both time periods a client may look in, and answer each introduction by meeting the client at its
 * rendezvous point, where the client's streams arrive on a virtual hop.
 *
 * Everything runs on a client's CircuitManager, so the service is as anonymous as any client: its
 * introduction, rendezvous and upload circuits are ordinary 3-hop onion circuits from its guards.
 */

/**
 * tor pads RENDEZVOUS1 to the legacy 168-byte size with random bytes (rend-spec 4.3) and clients
 * read only the 64-byte hs-ntor HANDSHAKE_INFO at its start; padding the same way keeps our
 * RENDEZVOUS2 the size a tor service's is.
 */
const LEGACY_RENDEZVOUS1_LEN = 168;

/** rend-spec [WHEN-HSDESC]: republish every 60–120 minutes. */
const REPUBLISH_MIN_MS = 60 * 60_000;
const REPUBLISH_MAX_MS = 120 * 60_000;

/** A client's stream to the service, waiting for the host's decision. */
export interface OnionStreamRequest {
  /** The virtual port the client asked for (BEGIN ":port"). */
  readonly port: number;
  readonly stream: TorStream;
  /** The local target took the connection: tell the client (CONNECTED). */
  accept(): void;
  /** The local target cannot be reached: END with `reason` (CONNECTREFUSED...). */
  refuse(reason: number): void;
}

/** Returns false when the service has no such port (tor: END, then the circuit is closed). */
export type OnionStreamHandler = (request: OnionStreamRequest) => boolean;

export interface OnionServiceIdentity {
  /** The identity key as tor stores it: the 64-byte expanded secret key. */
  readonly expandedSecretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface PublishEvent {
  readonly periodNum: number;
  readonly revisionCounter: bigint;
  readonly uploaded: readonly string[];
  readonly failed: readonly string[];
  /** How many HSDirs the ring makes responsible for this period's descriptor. */
  readonly responsible: number;
}

export interface OnionServiceOptions {
  readonly circuits: CircuitManager;
  readonly netDir: () => NetDir;
  readonly identity: OnionServiceIdentity;
  readonly onStream: OnionStreamHandler;
  /** x25519 public keys of authorized clients (authorized_clients/*.auth); none: open service. */
  readonly authorizedClients?: readonly Uint8Array[];
  /** HiddenServiceNumIntroductionPoints (3). */
  readonly numIntroductionPoints?: number;
  /** HiddenServiceMaxStreams per rendezvous circuit, 0 = unlimited. */
  readonly maxStreams?: number;
  /** HiddenServiceMaxStreamsCloseCircuit. */
  readonly maxStreamsCloseCircuit?: boolean;
  /** Introductions answered per second on average (10) and in a burst (50); a flood beyond is dropped. */
  readonly introductionRate?: number;
  readonly introductionBurst?: number;
  /** Rendezvous circuits being built at once (16); introductions beyond that are dropped, not queued. */
  readonly maxPendingRendezvous?: number;
  readonly maxIntroductionsPerPoint?: number;
  /** Ask introduction points to rate-limit INTRODUCE2 for us ([EST_INTRO_DOS_EXT]). */
  readonly introPointDoS?: { readonly rate: number; readonly burst: number };
  /** See TorClientOptions.testingNetwork. */
  readonly testingNetwork?: boolean;
  readonly log?: Logger;
  readonly now?: () => Date;
  readonly random?: RandomBytes;
  readonly stepTimeoutMs?: number;
  /** How often introduction points and descriptors are checked (tor does it every second). */
  readonly maintainIntervalMs?: number;
  readonly onPublish?: (event: PublishEvent) => void;
}

interface IntroPointState {
  readonly relay: NetRelay;
  readonly mc: ManagedCircuit;
  readonly authKey: Uint8Array;
  readonly encKeyPair: NtorKeyPair;
  readonly replay: ReplayCache;
  introductions: number;
  retired: boolean;
}

interface PeriodState {
  readonly periodNum: number;
  readonly lengthMinutes: number;
  readonly blinded: BlindedKeypair;
  readonly subcredential: Uint8Array;
  /** The descriptor signing key of this period (KS_hs_desc_sign seed). */
  readonly signingSeed: Uint8Array;
  readonly signingKey: Uint8Array;
  revision: bigint | undefined;
  /** HSDir fingerprint → the introduction-point generation it holds. */
  readonly uploaded: Map<string, number>;
  republishAt: number;
}

/** How long a relay that failed as an introduction point is left out. */
const FAILED_INTRO_RELAY_PENALTY_MS = 5 * 60_000;
/** Subcredentials of this many recent periods are tried on INTRODUCE2. */
const KEPT_PERIODS = 3;

export class OnionService {
  readonly hostname: string;
  private readonly introPoints: IntroPointState[] = [];
  private readonly periods = new Map<number, PeriodState>();
  private readonly rendezvousCircuits = new Set<ManagedCircuit>();
  private readonly failedIntroRelays = new Map<string, number>();
  /** Bumped whenever the set of introduction points changes: descriptors must follow. */
  private generation = 0;
  private filling: Promise<void> | undefined;
  private publishing: Promise<void> | undefined;
  private publishAgain = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly gate: IntroductionGate;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private readonly hsdirCache = new Map<string, NetRelay[]>();
  /** Counters for status displays and tests. */
  readonly stats = { introductions: 0, replays: 0, rateLimited: 0, undecryptable: 0, rendezvousOk: 0, rendezvousFailed: 0, streams: 0, streamsRefused: 0 };

  constructor(private readonly opts: OnionServiceOptions) {
    if (opts.identity.expandedSecretKey.length !== 64 || opts.identity.publicKey.length !== 32) throw new UsageError('onion service identity must be a 64-byte expanded secret key and its 32-byte public key');
    const n = opts.numIntroductionPoints ?? 3;
    if (!Number.isSafeInteger(n) || n < 1 || n > 20) throw new UsageError(`number of introduction points must be 1..20, not ${n}`);
    this.hostname = encodeOnionAddress(opts.identity.publicKey);
    const rate = opts.introductionRate ?? 10;
    const burst = opts.introductionBurst ?? 50;
    this.gate = new IntroductionGate({ rate, burst, maxPending: opts.maxPendingRendezvous ?? 16, now: () => this.nowMs() });
  }

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private get random(): RandomBytes {
    return this.opts.random ?? secureRandomBytes;
  }

  private get wanted(): number {
    return this.opts.numIntroductionPoints ?? 3;
  }

  private get timeoutMs(): number {
    return this.opts.stepTimeoutMs ?? 30_000;
  }

  private nowMs(): number {
    return (this.opts.now ?? (() => new Date()))().getTime();
  }

  private uniform(): number {
    const b = this.random(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
  }

  private periodConfig(dir: NetDir): TimePeriodConfig {
    return timePeriodConfig(dir, this.opts.testingNetwork === undefined ? {} : { testingNetwork: this.opts.testingNetwork });
  }

  /** The relays of the introduction points in use (established, open, not retired). */
  get introductionPoints(): readonly NetRelay[] {
    return this.live().map((p) => p.relay);
  }

  /**
   * Establish the introduction points and publish the first descriptors; resolves once the first
   * round of uploads is done (whether every HSDir took it or not: maintenance retries). Throws
   * only when no introduction point at all could be established.
   */
  async start(): Promise<void> {
    if (this.timer || this.stopped) throw new UsageError('an onion service starts once');
    this.timer = setInterval(() => this.maintain(), this.opts.maintainIntervalMs ?? 10_000);
    (this.timer as { unref?: () => void }).unref?.();
    await this.fillIntroPoints();
    if (this.live().length === 0) throw new TelescopeError(`${this.hostname}: could not establish any introduction point`);
    await this.publish();
  }

  /** Close every circuit of the service; its descriptors age out of the HSDirs. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.introPoints.splice(0)) p.mc.circuit.destroy();
    for (const mc of [...this.rendezvousCircuits]) mc.circuit.destroy();
    this.rendezvousCircuits.clear();
  }

  /** Keep the introduction points full and the descriptors where clients look. */
  maintain(): void {
    if (this.stopped) return;
    const relax = (what: string) => (e: unknown) => {
      if (!(e instanceof TelescopeError)) throw e;
      this.log.info(`${this.hostname}: ${what}: ${e.message}`);
    };
    if (this.live().length < this.wanted) this.fillIntroPoints().then(() => this.publish()).catch(relax('introduction points'));
    else this.publish().catch(relax('publishing'));
  }

  private live(): IntroPointState[] {
    return this.introPoints.filter((p) => !p.retired && p.mc.circuit.isOpen);
  }

  // ---- introduction points ----

  private fillIntroPoints(): Promise<void> {
    this.filling ??= this.fill().finally(() => { this.filling = undefined; });
    return this.filling;
  }

  private async fill(): Promise<void> {
    let attempts = 0;
    const limit = 3 * this.wanted;
    while (!this.stopped && this.live().length < this.wanted && attempts < limit) {
      const missing = this.wanted - this.live().length;
      const relays = this.pickIntroRelays(this.opts.netDir(), missing);
      if (relays.length === 0) {
        this.log.warn(`${this.hostname}: no relay left to use as an introduction point`);
        break;
      }
      attempts += relays.length;
      const results = await Promise.allSettled(relays.map((r) => this.establishIntroPoint(r)));
      results.forEach((res, i) => {
        if (res.status === 'fulfilled') return;
        const relay = relays[i]!;
        this.failedIntroRelays.set(relay.fingerprint, this.nowMs());
        if (!(res.reason instanceof TelescopeError)) throw res.reason;
        this.log.info(`${this.hostname}: introduction point ${describeRelay(relay)} failed: ${res.reason.message}`);
      });
    }
  }

  /** Distinct relays that can be introduction points (Stable, Fast, HSIntro=4 with Ed25519 keys, Relay=2). */
  private pickIntroRelays(dir: NetDir, count: number): NetRelay[] {
    const now = this.nowMs();
    for (const [fp, at] of this.failedIntroRelays) if (now - at > FAILED_INTRO_RELAY_PENALTY_MS) this.failedIntroRelays.delete(fp);
    const inUse = new Set(this.live().map((p) => p.relay.fingerprint));
    const usable = (r: NetRelay) => hasFlagsFor(r, 'middle') && r.flags.has('Stable') && r.ed25519Identity !== undefined && supportsHsIntroV3(r) && supportsExtend2(r) && !inUse.has(r.fingerprint);
    let candidates = dir.relays.filter((r) => usable(r) && !this.failedIntroRelays.has(r.fingerprint));
    // Better a relay that failed a while ago than no introduction point at all.
    if (candidates.length < count) candidates = dir.relays.filter(usable);
    const picked: NetRelay[] = [];
    while (picked.length < count) {
      const r = pickWeighted(candidates, (c) => c.bandwidth * positionWeight(dir, c, 'middle'), () => this.uniform());
      if (!r) break;
      picked.push(r);
      candidates = candidates.filter((c) => c !== r);
    }
    return picked;
  }

  private async establishIntroPoint(relay: NetRelay): Promise<void> {
    const mc = await this.opts.circuits.buildOnion(relay);
    if (this.stopped) {
      mc.circuit.destroy();
      return;
    }
    const hop = mc.path.length - 1;
    const messages = new CircuitMessages(mc.circuit, hop);
    const authSecret = this.random(32);
    const cell = buildEstablishIntro({
      authSecretKey: authSecret,
      circuitNonce: mc.circuit.hopNonce(hop),
      extensions: this.opts.introPointDoS && supportsHsIntroDoS(relay) ? [dosExtension(this.opts.introPointDoS.rate, this.opts.introPointDoS.burst)] : [],
    });
    authSecret.fill(0);
    const established = messages.expect(RelayCmd.INTRO_ESTABLISHED, this.timeoutMs);
    try {
      mc.circuit.sendControl(hop, cell);
      await established;
    } catch (e) {
      mc.circuit.destroy();
      throw e;
    }
    if (this.stopped) {
      mc.circuit.destroy();
      return;
    }
    const point: IntroPointState = {
      relay,
      mc,
      authKey: cell.authKey,
      encKeyPair: generateNtorKeyPair(this.random),
      replay: new ReplayCache(this.opts.maxIntroductionsPerPoint ?? DEFAULT_MAX_INTRODUCTIONS_PER_POINT),
      introductions: 0,
      retired: false,
    };
    this.introPoints.push(point);
    this.generation++;
    this.log.info(`${this.hostname}: introduction point ${describeRelay(relay)} established (circuit ${mc.circuit.id})`);
    messages.on(RelayCmd.INTRODUCE2, (m) => this.onIntroduce2(point, m as Introduce2));
    mc.circuit.onClose((e) => {
      const i = this.introPoints.indexOf(point);
      if (i >= 0) this.introPoints.splice(i, 1);
      if (this.stopped) return;
      if (point.retired) return; // already left out of the descriptors
      this.generation++;
      this.log.info(`${this.hostname}: introduction point ${describeRelay(relay)} is gone (${e.message}); choosing another`);
      queueMicrotask(() => this.maintain());
    });
  }

  // ---- introductions ----

  private onIntroduce2(point: IntroPointState, msg: Introduce2): void {
    if (this.stopped || point.retired) return;
    const verdict = this.gate.admit(point, msg, this.subcredentials());
    switch (verdict.kind) {
      case 'accepted':
        break;
      case 'rate-limited':
      case 'busy':
        this.stats.rateLimited++;
        this.noteDropped();
        return;
      case 'replay':
        this.stats.replays++;
        this.log.info(`${this.hostname}: dropped a replayed INTRODUCE2 at ${describeRelay(point.relay)}`);
        return;
      default:
        this.stats.undecryptable++;
        this.log.info(`${this.hostname}: unusable INTRODUCE2 at ${describeRelay(point.relay)}: ${verdict.detail}`);
        return;
    }
    point.introductions++;
    this.stats.introductions++;
    if (point.replay.full || point.introductions >= point.replay.capacity) this.retire(point, 'it has had its share of introductions');
    void this.rendezvous(verdict.plaintext, verdict.pending).finally(() => this.gate.done());
  }

  private noteDropped(): void {
    this.droppedSinceLog++;
    const now = this.nowMs();
    if (now - this.lastDropLog < 60_000) return;
    this.log.warn(`${this.hostname}: introduction rate limit reached, ${this.droppedSinceLog} introduction(s) dropped`);
    this.droppedSinceLog = 0;
    this.lastDropLog = now;
  }

  /** Stop advertising a point (new one chosen, descriptors re-published); close it a bit later. */
  private retire(point: IntroPointState, why: string): void {
    point.retired = true;
    this.generation++;
    this.log.info(`${this.hostname}: retiring introduction point ${describeRelay(point.relay)}: ${why}`);
    queueMicrotask(() => this.maintain());
    const t = setTimeout(() => point.mc.circuit.destroy(), 5 * 60_000);
    (t as { unref?: () => void }).unref?.();
  }

  private subcredentials(): Uint8Array[] {
    return [...this.periods.values()].sort((a, b) => b.periodNum - a.periodNum).map((p) => p.subcredential);
  }

  private async rendezvous(plaintext: IntroducePlaintext, pending: HsNtorServicePending): Promise<void> {
    let mc: ManagedCircuit | undefined;
    try {
      const rp = relayFromLinkSpecifiers(this.opts.netDir(), plaintext.linkSpecifiers, plaintext.onionKey);
      mc = await this.opts.circuits.buildOnion(rp);
      if (this.stopped) {
        mc.circuit.destroy();
        return;
      }
      const { handshakeInfo, keyMaterial } = pending.respond({ random: this.random });
      const padding = this.random(LEGACY_RENDEZVOUS1_LEN - RENDEZVOUS_COOKIE_LEN - handshakeInfo.length);
      const hop = mc.path.length - 1;
      mc.circuit.sendControl(hop, new Rendezvous1(plaintext.rendezvousCookie, concatBytes(handshakeInfo, padding)));
      const circuit = mc.circuit;
      circuit.addVirtualHop(reverseHopKeys(hsV3KeysFrom(keyMaterial)), 'onion-client');
      keyMaterial.fill(0);
      const managed = mc;
      circuit.incomingStreams = { hop: circuit.length - 1, accept: (stream, begin) => this.incomingStream(managed, stream, begin) };
      this.rendezvousCircuits.add(mc);
      circuit.onClose(() => this.rendezvousCircuits.delete(managed));
      this.stats.rendezvousOk++;
      this.log.info(`${this.hostname}: met a client at rendezvous point ${describeRelay(rp)} (circuit ${circuit.id})`);
    } catch (e) {
      mc?.circuit.destroy();
      this.stats.rendezvousFailed++;
      if (!(e instanceof TelescopeError)) throw e;
      this.log.info(`${this.hostname}: rendezvous failed: ${e.message}`);
    }
  }

  private incomingStream(mc: ManagedCircuit, stream: TorStream, begin: Begin): void {
    const circuit = mc.circuit;
    const max = this.opts.maxStreams ?? 0;
    // tor answers END DONE, not EXITPOLICY, so a port scan learns nothing from the reason, and
    // closes the circuit so that each probe of an unknown port costs a new rendezvous.
    if (max > 0 && circuit.openStreams > max) {
      this.stats.streamsRefused++;
      stream.close(EndReason.DONE);
      if (this.opts.maxStreamsCloseCircuit) circuit.destroy();
      return;
    }
    let decided = false;
    const known = this.opts.onStream({
      port: begin.port,
      stream,
      accept: () => {
        if (decided || !stream.isOpen) return;
        decided = true;
        circuit.acceptStream(stream);
      },
      refuse: (reason) => {
        if (decided) return;
        decided = true;
        stream.close(reason);
      },
    });
    if (known) {
      this.stats.streams++;
      return;
    }
    this.stats.streamsRefused++;
    this.log.info(`${this.hostname}: a client asked for port ${begin.port}, which the service does not have; closing its circuit`);
    stream.close(EndReason.DONE);
    circuit.destroy();
  }

  // ---- descriptors ----

  private publish(): Promise<void> {
    if (this.publishing) {
      this.publishAgain = true;
      return this.publishing;
    }
    const run = async () => {
      do {
        this.publishAgain = false;
        await this.publishOnce();
      } while (this.publishAgain && !this.stopped);
    };
    this.publishing = run().finally(() => { this.publishing = undefined; });
    return this.publishing;
  }

  private periodState(periodNum: number, lengthMinutes: number): PeriodState {
    const existing = this.periods.get(periodNum);
    if (existing && existing.lengthMinutes === lengthMinutes) return existing;
    const blinded = blindKeypair(this.opts.identity.expandedSecretKey, periodNum, lengthMinutes);
    const signingSeed = this.random(32);
    const state: PeriodState = {
      periodNum,
      lengthMinutes,
      blinded,
      subcredential: subcredential(this.opts.identity.publicKey, blinded.publicKey),
      signingSeed,
      signingKey: ed25519.getPublicKey(signingSeed),
      revision: undefined,
      uploaded: new Map(),
      republishAt: 0,
    };
    this.periods.set(periodNum, state);
    // Old periods stay a little for INTRODUCE2 from clients with an older descriptor.
    const nums = [...this.periods.keys()].sort((a, b) => b - a);
    for (const n of nums.slice(KEPT_PERIODS)) this.periods.delete(n);
    return state;
  }

  private responsible(dir: NetDir, st: PeriodState, use: RingUse): NetRelay[] {
    const ring = ringFor(dir, use, st.lengthMinutes);
    const key = `${dir.validAfter.getTime()}:${use.periodNum}:${toHex(ring.srv)}`;
    let hsdirs = this.hsdirCache.get(key);
    if (!hsdirs) {
      hsdirs = responsibleHsDirs(dir, st.blinded.publicKey, ring.periodNum, ring.periodLengthMinutes, ring.srv, { purpose: 'store' });
      if (this.hsdirCache.size > 8) this.hsdirCache.clear();
      this.hsdirCache.set(key, hsdirs);
    }
    return hsdirs;
  }

  private async publishOnce(): Promise<void> {
    const points = this.live();
    if (this.stopped || points.length === 0) return;
    const dir = this.opts.netDir();
    const cfg = this.periodConfig(dir);
    const schedule = hsDirSchedule(dir.validAfter, cfg);
    const uses = [schedule.storeFirst, schedule.storeSecond];
    for (const use of uses) {
      const st = this.periodState(use.periodNum, cfg.lengthMinutes);
      const hsdirs = this.responsible(dir, st, use);
      const now = this.nowMs();
      const due = now >= st.republishAt;
      const generation = this.generation;
      const targets = hsdirs.filter((h) => due || st.uploaded.get(h.fingerprint) !== generation);
      if (targets.length === 0) continue;
      st.revision = nextRevisionCounter(now, timePeriodStart(Math.max(0, use.periodNum - 1), cfg), st.revision);
      const doc = utf8(this.descriptorFor(st, points, new Date(now)));
      const results = await Promise.allSettled(targets.map((h) => this.upload(h, doc)));
      const uploaded: string[] = [];
      const failed: string[] = [];
      results.forEach((r, i) => {
        const h = targets[i]!;
        if (r.status === 'fulfilled') {
          st.uploaded.set(h.fingerprint, generation);
          uploaded.push(describeRelay(h));
          return;
        }
        if (!(r.reason instanceof TelescopeError)) throw r.reason;
        st.uploaded.delete(h.fingerprint);
        failed.push(`${describeRelay(h)} (${r.reason.message})`);
      });
      if (due) st.republishAt = now + REPUBLISH_MIN_MS + Math.floor(this.uniform() * (REPUBLISH_MAX_MS - REPUBLISH_MIN_MS));
      this.log.notice(`${this.hostname}: descriptor for time period ${use.periodNum} (revision ${st.revision}) uploaded to ${uploaded.length}/${targets.length} HSDirs${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
      this.opts.onPublish?.({ periodNum: use.periodNum, revisionCounter: st.revision, uploaded, failed, responsible: hsdirs.length });
    }
  }

  private descriptorFor(st: PeriodState, points: readonly IntroPointState[], now: Date): string {
    return buildDescriptor({
      blindedKey: st.blinded.publicKey,
      signWithBlindedKey: (m) => signWithExpandedKey(m, st.blinded.expandedSecretKey, st.blinded.publicKey),
      signingKey: st.signingKey,
      signWithSigningKey: (m) => ed25519.sign(m, st.signingSeed),
      subcredential: st.subcredential,
      revisionCounter: st.revision!,
      now,
      certLifetimeHours: DEFAULT_CERT_LIFETIME_HOURS,
      inner: {
        introPoints: points.map((p) => ({
          linkSpecifiers: linkSpecifiersFor(relayTarget(p.relay)),
          onionKey: p.relay.ntorOnionKey,
          authKey: p.authKey,
          encKey: p.encKeyPair.public,
        })),
      },
      ...(this.opts.authorizedClients?.length ? { authorizedClients: this.opts.authorizedClients } : {}),
    });
  }

  private async upload(hsdir: NetRelay, doc: Uint8Array): Promise<void> {
    const mc = await this.opts.circuits.buildOnion(hsdir);
    try {
      const stream = await mc.circuit.openDirStream({ hop: mc.path.length - 1, timeoutMs: this.timeoutMs });
      await dirPost(stream, '/tor/hs/3/publish', doc);
    } catch (e) {
      if (e instanceof DirectoryHttpError) this.log.info(`${this.hostname}: ${describeRelay(hsdir)} refused the descriptor: ${e.message}`);
      throw e;
    } finally {
      mc.circuit.destroy();
    }
  }
}
