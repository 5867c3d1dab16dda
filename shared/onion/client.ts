import { toBase64 } from '../bytes/index.ts';
import { RelayCmd, EstablishRendezvous, IntroduceAck, IntroduceAckStatus, type LinkSpecifier, type Rendezvous2 } from '../cells/index.ts';
import { linkSpecifiersFor } from '../circuit/index.ts';
import { DirectoryHttpError, dirGet, type CircuitManager, type ManagedCircuit } from '../circmgr/index.ts';
import { hsV3KeysFrom, secureRandomBytes, type RandomBytes } from '../crypto/index.ts';
import { TelescopeError, silentLogger, type ErrorDetails, type ErrorKind, type Logger } from '../util/index.ts';
import { describeRelay, fingerprintOf, relayTarget, type NetDir, type NetRelay } from '../netdir/index.ts';
import { ProtocolList } from '../netdoc/index.ts';
import type { TorStream } from '../stream/index.ts';
import { parseOnionAddress, type OnionAddress } from './address.ts';
import { CircuitMessages } from './circuit-messages.ts';
import { decodeDescriptor, DescriptorError, type OnionServiceDescriptor } from './descriptor.ts';
import type { IntroPoint } from './descriptor-inner.ts';
import { responsibleHsDirs, ringFor } from './hsdir-ring.ts';
import { HS_NTOR_HANDSHAKE_INFO_LEN } from './hs-ntor.ts';
import { buildIntroduce1 } from './introduce.ts';
import { blindPublicKey, subcredential } from './keys.ts';
import { hsDirSchedule, timePeriodConfig } from './time-period.ts';

/**
 * The client side of onion services v3 (rend-spec-v3 §2–4): find the descriptor on the HSDirs the
 * hash ring names, decrypt it, open a rendezvous point, introduce ourselves to the service through
 * one of its introduction points, and finish hs-ntor when the service meets us at the rendezvous
 * point. The result is a circuit with a fourth, virtual hop (the service) that carries streams
 * like any other. Descriptors are cached until they expire and rendezvous circuits are reused per
 * isolation key, as tor does.
 */

export type OnionPhase = 'descriptor' | 'introducing' | 'rendezvous' | 'connected';

export type OnionFailure = 'descriptor-not-found' | 'descriptor-invalid' | 'needs-client-auth' | 'bad-client-auth' | 'service-offline' | 'introduction-failed' | 'rendezvous-failed';

/** A failure a person can act on, named by `failure` ("service offline", "needs client auth"). */
export class OnionServiceError extends TelescopeError {
  constructor(readonly failure: OnionFailure, readonly address: string, detail: string, details?: ErrorDetails) {
    super(`${address}: ${detail}`, { kind: ONION_ERROR_KINDS[failure], ...details });
  }
}

const ONION_ERROR_KINDS: Record<OnionFailure, ErrorKind> = {
  'descriptor-not-found': 'onion-service-not-found',
  'descriptor-invalid': 'onion-service-descriptor-invalid',
  'needs-client-auth': 'onion-service-missing-client-auth',
  'bad-client-auth': 'onion-service-wrong-client-auth',
  'service-offline': 'onion-service-not-running',
  'introduction-failed': 'onion-service-connection-failed',
  'rendezvous-failed': 'onion-service-connection-failed',
};

export interface OnionClientOptions {
  readonly circuits: CircuitManager;
  readonly netDir: () => NetDir;
  readonly now?: () => Date;
  readonly log?: Logger;
  /** The x25519 secret key for client authorization with this service (hostname), if any. */
  readonly clientAuthKey?: (hostname: string) => Uint8Array | undefined;
  readonly random?: RandomBytes;
  /** How long to wait for each onion-service answer (tor's circuit timeouts are of this order). */
  readonly stepTimeoutMs?: number;
  /** See TorClientOptions.testingNetwork. */
  readonly testingNetwork?: boolean;
}

interface CachedDescriptor {
  readonly descriptor: OnionServiceDescriptor;
  readonly subcredential: Uint8Array;
  readonly expires: number;
}

const MAX_INTRO_ATTEMPTS = 3;

export class OnionServiceClient {
  private readonly descriptors = new Map<string, Promise<CachedDescriptor>>();
  private readonly rendezvous = new Map<string, Promise<ManagedCircuit>>();

  constructor(private readonly opts: OnionClientOptions) {}

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }

  private get timeoutMs(): number {
    return this.opts.stepTimeoutMs ?? 30_000;
  }

  /**
   * A stream to `port` on the onion service `host` (a .onion name, subdomains allowed), on a
   * rendezvous circuit for `isolationKey`. `onPhase` hears where the connection is.
   */
  async connect(host: string, port: number, opts: { isolationKey: string; onPhase?: (p: OnionPhase) => void }): Promise<{ stream: TorStream; circuit: ManagedCircuit }> {
    const address = parseOnionAddress(host);
    const key = `${opts.isolationKey}\u0000${address.hostname}`;
    for (let attempt = 0; ; attempt++) {
      let pending = this.rendezvous.get(key);
      if (!pending) {
        pending = this.establish(address, opts.onPhase);
        this.rendezvous.set(key, pending);
        pending.then((mc) => mc.circuit.onClose(() => { if (this.rendezvous.get(key) === pending) this.rendezvous.delete(key); }), () => this.rendezvous.delete(key));
      }
      const mc = await pending;
      mc.isolationKey = opts.isolationKey;
      try {
        // The service sees only the port: the address is empty in BEGIN (rend-spec "Using streams").
        const stream = await mc.circuit.openStream('', port, { timeoutMs: this.timeoutMs });
        opts.onPhase?.('connected');
        return { stream, circuit: mc };
      } catch (e) {
        if (!(e instanceof TelescopeError) || mc.circuit.isOpen || attempt > 0) throw e;
        // The rendezvous circuit died under us (the service restarted?): one fresh try.
        this.log.info(`${address.hostname}: rendezvous circuit closed (${e.message}); connecting again`);
      }
    }
  }

  /** Forget the descriptor and circuits of `host` (new identity, or after a failure). */
  forget(host?: string): void {
    for (const [k, p] of [...this.rendezvous]) {
      if (host && !k.endsWith(`\u0000${host}`)) continue;
      this.rendezvous.delete(k);
      p.then((mc) => mc.circuit.destroy(), () => {});
    }
    if (host) this.descriptors.delete(host);
    else this.descriptors.clear();
  }

  // ---- descriptor ----

  private descriptorFor(address: OnionAddress): Promise<CachedDescriptor> {
    const cached = this.descriptors.get(address.hostname);
    if (cached) {
      return cached.then((c) => {
        if (c.expires > this.now().getTime()) return c;
        this.descriptors.delete(address.hostname);
        return this.descriptorFor(address);
      });
    }
    const fresh = this.fetchDescriptor(address);
    this.descriptors.set(address.hostname, fresh);
    fresh.catch(() => { if (this.descriptors.get(address.hostname) === fresh) this.descriptors.delete(address.hostname); });
    return fresh;
  }

  private async fetchDescriptor(address: OnionAddress): Promise<CachedDescriptor> {
    const dir = this.opts.netDir();
    const cfg = timePeriodConfig(dir, this.opts.testingNetwork === undefined ? {} : { testingNetwork: this.opts.testingNetwork });
    const use = hsDirSchedule(dir.validAfter, cfg).fetch;
    const ring = ringFor(dir, use, cfg.lengthMinutes);
    const blindedKey = blindPublicKey(address.publicKey, ring.periodNum, ring.periodLengthMinutes);
    const subcred = subcredential(address.publicKey, blindedKey);
    const hsdirs = shuffle(responsibleHsDirs(dir, blindedKey, ring.periodNum, ring.periodLengthMinutes, ring.srv, { purpose: 'fetch' }), this.opts.random);
    if (hsdirs.length === 0) throw new OnionServiceError('descriptor-not-found', address.hostname, 'the consensus lists no HSDirs to ask for the descriptor');
    const path = `/tor/hs/3/${toBase64(blindedKey)}`;
    const problems: string[] = [];
    // Only 404s everywhere means "no such descriptor"; any other failure means we could not tell.
    let allMissing = true;
    for (const hsdir of hsdirs) {
      let circuit: ManagedCircuit | undefined;
      try {
        circuit = await this.opts.circuits.buildOnion(hsdir);
        const stream = await circuit.circuit.openDirStream({ hop: circuit.path.length - 1, timeoutMs: this.timeoutMs });
        const body = await dirGet(stream, path);
        const descriptor = decodeDescriptor(body, {
          blindedKey,
          subcredential: subcred,
          now: this.now(),
          clientAuthSecretKey: this.opts.clientAuthKey?.(address.hostname),
        });
        this.log.info(`${address.hostname}: descriptor revision ${descriptor.revisionCounter} from ${describeRelay(hsdir)} (${descriptor.introPoints.length} introduction points)`);
        // Kept for its lifetime, but never past the signing key's certificate.
        const expires = Math.min(this.now().getTime() + descriptor.lifetimeMinutes * 60_000, descriptor.signingKeyExpires.getTime());
        return { descriptor, subcredential: subcred, expires };
      } catch (e) {
        if (!(e instanceof TelescopeError)) throw e;
        // Authorization problems are the service's answer, not this HSDir's: stop asking.
        if (e instanceof DescriptorError && (e.problem === 'needs-client-auth' || e.problem === 'bad-client-auth')) {
          throw new OnionServiceError(e.problem, address.hostname, e.problem === 'needs-client-auth'
            ? 'this onion service requires client authorization: add its client key'
            : 'this onion service requires client authorization and does not accept the configured key', { cause: e });
        }
        const notFound = e instanceof DirectoryHttpError && e.status === 404;
        if (!notFound) allMissing = false;
        problems.push(`${describeRelay(hsdir)}: ${notFound ? 'not found' : e.message}`);
        this.log.info(`${address.hostname}: descriptor fetch from ${describeRelay(hsdir)} failed: ${e.message}`);
      } finally {
        circuit?.circuit.destroy();
      }
    }
    throw new OnionServiceError(allMissing ? 'descriptor-not-found' : 'descriptor-invalid', address.hostname, allMissing
      ? `no descriptor on any of the ${hsdirs.length} responsible HSDirs: the service is offline or the address is wrong`
      : `could not get a valid descriptor (${problems.join('; ')})`);
  }

  // ---- rendezvous and introduction ----

  private async establish(address: OnionAddress, onPhase?: (p: OnionPhase) => void): Promise<ManagedCircuit> {
    onPhase?.('descriptor');
    let cached = await this.descriptorFor(address);
    const problems: string[] = [];
    for (let round = 0; round < 2; round++) {
      const intros = shuffle([...cached.descriptor.introPoints], this.opts.random).slice(0, MAX_INTRO_ATTEMPTS);
      if (intros.length === 0) throw new OnionServiceError('service-offline', address.hostname, 'the service publishes no introduction points (it is not accepting connections)');
      onPhase?.('rendezvous');
      const rend = await this.openRendezvousPoint();
      try {
        for (const intro of intros) {
          onPhase?.('introducing');
          try {
            await this.introduce(address, cached, intro, rend);
            this.log.info(`${address.hostname}: connected through rendezvous point ${describeRelay(rend.mc.path[rend.mc.path.length - 1]!)}`);
            return rend.mc;
          } catch (e) {
            if (!(e instanceof TelescopeError)) throw e;
            problems.push(e.message);
            this.log.info(`${address.hostname}: introduction failed: ${e.message}`);
            if (!rend.mc.circuit.isOpen) break;
          }
        }
      } catch (e) {
        rend.mc.circuit.destroy();
        throw e;
      }
      rend.mc.circuit.destroy();
      // Every introduction point failed: the descriptor may be stale (the service moved on).
      if (round === 0) {
        this.descriptors.delete(address.hostname);
        cached = await this.descriptorFor(address);
      }
    }
    throw new OnionServiceError('introduction-failed', address.hostname, `the service did not answer through any introduction point (${problems.slice(-3).join('; ')})`);
  }

  private async openRendezvousPoint(): Promise<{ mc: ManagedCircuit; cookie: Uint8Array; messages: CircuitMessages; rendezvous2: Promise<Rendezvous2> }> {
    const mc = await this.opts.circuits.buildOnion();
    const messages = new CircuitMessages(mc.circuit, mc.path.length - 1);
    const cookie = (this.opts.random ?? secureRandomBytes)(20);
    const established = messages.expect(RelayCmd.RENDEZVOUS_ESTABLISHED, this.timeoutMs);
    mc.circuit.sendControl(mc.path.length - 1, new EstablishRendezvous(cookie));
    try {
      await established;
    } catch (e) {
      mc.circuit.destroy();
      throw e;
    }
    // Armed now: the service may answer before INTRODUCE_ACK reaches us.
    const rendezvous2 = messages.expect<Rendezvous2>(RelayCmd.RENDEZVOUS2, 4 * this.timeoutMs);
    // Awaited in introduce(); this only keeps a RENDEZVOUS2 that never comes (the circuit is
    // destroyed first) from counting as an unhandled rejection.
    rendezvous2.catch(() => {});
    return { mc, cookie, messages, rendezvous2 };
  }

  private async introduce(address: OnionAddress, cached: CachedDescriptor, intro: IntroPoint, rend: { mc: ManagedCircuit; cookie: Uint8Array; rendezvous2: Promise<Rendezvous2> }): Promise<void> {
    const dir = this.opts.netDir();
    const introRelay = relayFromLinkSpecifiers(dir, intro.linkSpecifiers, intro.onionKey);
    const introCircuit = await this.opts.circuits.buildOnion(introRelay);
    try {
      const messages = new CircuitMessages(introCircuit.circuit, introCircuit.path.length - 1);
      const rp = rend.mc.path[rend.mc.path.length - 1]!;
      const { body, pending } = buildIntroduce1({
        introPoint: { authKey: intro.authKey, encKey: intro.encKey, subcredential: cached.subcredential },
        rendezvousCookie: rend.cookie,
        rendezvousPoint: { linkSpecifiers: linkSpecifiersFor(relayTarget(rp)), onionKey: rp.ntorOnionKey },
        ...(this.opts.random ? { random: this.opts.random } : {}),
      });
      const ack = messages.expect<IntroduceAck>(RelayCmd.INTRODUCE_ACK, this.timeoutMs);
      introCircuit.circuit.sendControl(introCircuit.path.length - 1, body);
      const answer = await ack;
      if (answer.status !== IntroduceAckStatus.SUCCESS) {
        throw new OnionServiceError('introduction-failed', address.hostname, `introduction point ${describeRelay(introRelay)} answered ${IntroduceAckStatus.nameOf(answer.status)}`);
      }
      const rendezvous2 = await rend.rendezvous2;
      // HANDSHAKE_INFO is a fixed 64 bytes for hs-ntor; services pad RENDEZVOUS1 to the legacy
      // 168 bytes (a tor service's RENDEZVOUS2 measured 148), and tor's parser ignores the padding.
      const { keyMaterial } = pending.finish(rendezvous2.handshakeInfo.subarray(0, HS_NTOR_HANDSHAKE_INFO_LEN));
      rend.mc.circuit.addVirtualHop(hsV3KeysFrom(keyMaterial));
    } finally {
      introCircuit.circuit.destroy();
    }
  }
}

/**
 * The relay a descriptor's (or an INTRODUCE2's) link specifiers name: the consensus entry when the
 * RSA identity is listed (for path rules), else a relay known only from the specifiers (extended
 * to as given). A service finds its client's rendezvous point this way.
 */
export function relayFromLinkSpecifiers(dir: NetDir, specs: readonly LinkSpecifier[], onionKey: Uint8Array): NetRelay {
  let rsa: Uint8Array | undefined;
  let ed: Uint8Array | undefined;
  let ipv4: { address: Uint8Array; port: number } | undefined;
  let ipv6: { address: Uint8Array; port: number } | undefined;
  for (const s of specs) {
    if (s.type === 'legacy-id') rsa = s.rsaIdentity;
    else if (s.type === 'ed25519-id') ed = s.ed25519Identity;
    else if (s.type === 'ipv4') ipv4 = { address: s.address, port: s.port };
    else if (s.type === 'ipv6') ipv6 = { address: s.address, port: s.port };
  }
  if (!rsa || !ipv4) throw new DescriptorError('malformed', 'an introduction point lacks its RSA identity or IPv4 address');
  const fingerprint = fingerprintOf(rsa);
  const listed = dir.relays.find((r) => r.fingerprint === fingerprint);
  if (listed) return { ...listed, ntorOnionKey: onionKey };
  return {
    nickname: `intro-${fingerprint.slice(0, 8)}`,
    rsaIdentity: rsa,
    fingerprint,
    ed25519Identity: ed,
    ntorOnionKey: onionKey,
    ipv4,
    ipv6,
    dirPort: 0,
    flags: new Set(),
    bandwidth: 0,
    family: [],
    familyIds: [],
    exitPolicy: { allowsPort: () => false },
    protocols: ProtocolList.EMPTY,
  };
}

function shuffle<T>(items: T[], random: RandomBytes = secureRandomBytes): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const r = random(4);
    const j = (((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0) % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
