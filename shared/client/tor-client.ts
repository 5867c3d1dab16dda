import { fromHex } from '../bytes/util.ts';
import { parseIp } from '../addr/index.ts';
import { EndReason } from '../cells/relay/messages.ts';
import type { ByteTransport, TransportFactory } from '../channel/transport.ts';
import type { LinkAuthenticator } from '../channel/handshake.ts';
import { Circuit, type CircuitOptions, type RelayTarget } from '../circuit/circuit.ts';
import { DirectoryState, type DirRequest } from '../directory/index.ts';
import { checkDescriptorIdentity, parseBridgeDescriptor } from '../netdoc/index.ts';
import { StreamError, TelescopeError, UsageError, silentLogger, type Logger, type KeyValueStore } from '../util/index.ts';
import { GuardManager } from '../path/guards.ts';
import { describeRelay, type NetDir, type NetRelay } from '../netdir/index.ts';
import { DEFAULT_PATH_RULES, secureUniform, type PathRules } from '../path/select.ts';
import type { TorStream } from '../stream/stream.ts';
import { ChannelPool } from './channel-pool.ts';
import { CircuitManager, type ManagedCircuit } from './circuit-manager.ts';
import { dirGet } from './dir-http.ts';
import { isOnionHost } from '../onion/address.ts';
import { OnionServiceClient, type OnionPhase } from '../onion/client.ts';
import { classifyBootstrapFailure, clockSkewFromNetinfo, type BootstrapProblem } from './bootstrap-problem.ts';

/**
 * The Tor client: bootstraps a verified view of the network, keeps it fresh, and opens streams
 * through circuits it manages. Hosts supply transports (TLS in Node, WebSocket in the extension),
 * storage and logging; everything else is here, shared by the SOCKS client and the extension.
 */

/** A directory authority as torrc's DirAuthority line describes it. */
export interface DirAuthorityInfo {
  readonly nickname: string;
  /** v3 identity (signing authority key) fingerprint, 40 hex. */
  readonly v3ident: string;
  /** The authority's relay RSA identity fingerprint, 40 hex. */
  readonly fingerprint: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
}

/** A bridge: a first hop that is not (necessarily) in the consensus, known from its bridge line. */
export interface BridgeInfo {
  readonly address: string;
  readonly port: number;
  readonly fingerprint: string;
  /** Learnt from the bridge's own descriptor when the bridge line does not give it. */
  readonly ntorOnionKey?: Uint8Array;
  readonly ed25519Identity?: Uint8Array;
  /** How a person knows this bridge (a WebSocket bridge's URL), for error messages. */
  readonly url?: string;
}

export interface BootstrapStatus {
  readonly percent: number;
  readonly tag: string;
  readonly summary: string;
  /** Why bootstrapping is stuck (while it retries, or after it gave up), or a clock warning. */
  readonly problem?: BootstrapProblem;
}

export interface TorClientOptions {
  readonly authorities: readonly DirAuthorityInfo[];
  readonly transports: TransportFactory;
  readonly store: KeyValueStore;
  /** Plain HTTP GET from an authority's DirPort, used only when no other source exists yet. */
  readonly dirPortGet?: (address: string, port: number, path: string) => Promise<Uint8Array>;
  readonly bridges?: readonly BridgeInfo[];
  readonly rules?: PathRules;
  readonly log?: Logger;
  readonly onBootstrap?: (status: BootstrapStatus) => void;
  readonly circuitOptions?: CircuitOptions;
  /** A relay's own links authenticate (AUTHENTICATE); a client's never do. */
  readonly linkAuthenticator?: (transport: ByteTransport) => LinkAuthenticator | undefined;
  readonly now?: () => Date;
  /** Clock skew tolerated when checking documents (tor allows a few minutes). */
  readonly skewMs?: number;
  /** Client authorization keys (x25519 secret) by onion hostname (tor's ClientOnionAuthDir). */
  readonly onionClientAuth?: ReadonlyMap<string, Uint8Array>;
  /**
   * A private test network (tor's TestingTorNetwork): onion-service time periods then follow the
   * voting interval. Guessed from the voting interval when not given.
   */
  readonly testingNetwork?: boolean;
}

/** END reasons after which tor tries the stream again on another circuit. */
const RETRIABLE_END = new Set<number>([EndReason.EXITPOLICY, EndReason.RESOURCELIMIT, EndReason.DESTROY, EndReason.TIMEOUT, EndReason.HIBERNATING, EndReason.MISC, EndReason.INTERNAL, EndReason.TORPROTOCOL, EndReason.NOROUTE]);

export class TorClient {
  readonly pool: ChannelPool;
  readonly guards: GuardManager;
  readonly circuits: CircuitManager;
  /** Streams to .onion names go through the onion-service client (rendezvous circuits). */
  readonly onion: OnionServiceClient;
  private readonly dir: DirectoryState;
  private readonly log: Logger;
  private status: BootstrapStatus = { percent: 0, tag: 'starting', summary: 'Starting' };
  private dirCircuit: Promise<Circuit> | undefined;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private refreshing = false;
  private closed = false;
  /** The last bootstrap failure, until bootstrapping gets further. */
  private failure: BootstrapProblem | undefined;
  /** A bridge's NETINFO clock far from ours: stands even when bootstrapping succeeds. */
  private clockWarning: BootstrapProblem | undefined;
  private peerClockSkewMs: number | undefined;

  /** Bridges with their ntor keys (from the bridge line, or fetched from the bridge). */
  private bridges: BridgeInfo[];

  constructor(private readonly opts: TorClientOptions) {
    this.bridges = [...(opts.bridges ?? [])];
    if (opts.authorities.length === 0) throw new UsageError('the client needs at least one directory authority');
    this.log = opts.log ?? silentLogger;
    this.pool = new ChannelPool(opts.transports, { log: this.log, ...(opts.now ? { now: opts.now } : {}), ...(opts.linkAuthenticator ? { authenticator: opts.linkAuthenticator } : {}) });
    this.guards = new GuardManager(opts.store, { rules: this.rules, log: this.log });
    this.dir = new DirectoryState(opts.authorities.map((a) => ({ fingerprint: a.v3ident })), { skewMs: opts.skewMs ?? 5 * 60_000, random: secureUniform });
    this.circuits = new CircuitManager(this.pool, this.guards, () => this.requireNetDir(), {
      log: this.log,
      rules: this.rules,
      preemptive: 0, // raised once bootstrapped
      ...(opts.circuitOptions ? { circuitOptions: opts.circuitOptions } : {}),
    });
    this.onion = new OnionServiceClient({
      circuits: this.circuits,
      netDir: () => this.requireNetDir(),
      now: () => this.now(),
      log: this.log,
      clientAuthKey: (hostname) => opts.onionClientAuth?.get(hostname),
      ...(opts.testingNetwork === undefined ? {} : { testingNetwork: opts.testingNetwork }),
    });
  }

  private get rules(): PathRules {
    return this.opts.rules ?? DEFAULT_PATH_RULES;
  }

  private now(): Date {
    return (this.opts.now ?? (() => new Date()))();
  }

  /** The directory documents this client holds (a relay serves them as its directory cache). */
  get directory(): DirectoryState {
    return this.dir;
  }

  get bootstrapStatus(): BootstrapStatus {
    return this.status;
  }

  /** The current network view (throws before bootstrap). */
  requireNetDir(): NetDir {
    const nd = this.netDir;
    if (!nd) throw new TelescopeError('no usable directory information yet: bootstrap first');
    return nd;
  }

  get netDir(): NetDir | undefined {
    const nd = this.dir.netDir(this.now());
    if (!nd || this.bridges.length === 0) return nd;
    return withBridges(nd, this.bridges.filter((b) => b.ntorOnionKey !== undefined));
  }

  private progress(percent: number, tag: string, summary: string): void {
    if (percent < this.status.percent) return;
    if (percent > this.status.percent) this.failure = undefined;
    this.status = { percent, tag, summary };
    this.publish();
  }

  private publish(): void {
    const problem = this.failure ?? this.clockWarning;
    const { percent, tag, summary } = this.status;
    this.status = { percent, tag, summary, ...(problem ? { problem } : {}) };
    this.opts.onBootstrap?.(this.status);
  }

  /** Report a failure as a problem a person can act on; bootstrapping may still be retrying. */
  private reportFailure(error: unknown): void {
    this.failure = classifyBootstrapFailure(error, {
      bridges: this.bridges.map((b) => b.url ?? `${b.address}:${b.port}`),
      ...(this.peerClockSkewMs !== undefined ? { peerClockSkewMs: this.peerClockSkewMs } : {}),
    });
    this.log.warn(`bootstrap problem (${this.failure.kind}): ${this.failure.message} [${this.failure.detail}]`);
    this.publish();
  }

  /** Bootstrap: load cached documents, fetch what is missing, build a first circuit. */
  async bootstrap(): Promise<void> {
    try {
      await this.bootstrapDirectory();
    } catch (e) {
      if (!this.closed) this.reportFailure(e);
      throw e;
    }
    this.progress(80, 'ap_conn', 'Connecting to a relay to build circuits');
    let first: ManagedCircuit;
    try {
      first = await this.circuits.build(80);
    } catch (e) {
      if (!this.closed) this.reportFailure(e);
      throw e;
    }
    this.progress(95, 'circuit_create', `Establishing a Tor circuit (${first.path.map(describeRelay).join(' → ')})`);
    this.progress(100, 'done', 'Done');
    this.circuits.maintainPreemptive(2);
  }

  /**
   * The directory half of bootstrapping: cached documents, then whatever is missing, then a
   * refresh timer that keeps the consensus fresh. A relay needs only this.
   */
  async bootstrapDirectory(): Promise<void> {
    this.progress(0, 'starting', 'Starting');
    await this.learnBridgeKeys();
    const stored = {
      consensus: await this.opts.store.get('consensus-microdesc'),
      certs: await this.opts.store.get('cached-certs'),
      microdescs: await this.opts.store.get('cached-microdescs'),
    };
    const problems = this.dir.restore(Object.fromEntries(Object.entries(stored).filter(([, v]) => v !== undefined)), this.now());
    for (const p of problems) this.log.info(`not using cached ${p}`);
    if (this.dir.phase(this.now()) === 'ready') this.log.notice('using the cached consensus and microdescriptors');
    await this.fetchUntilReady();
    this.progress(75, 'enough_dirinfo', 'Loaded enough directory info to build circuits');
    this.refreshTimer ??= setInterval(() => void this.refreshDirectory(), 30_000);
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  private async fetchUntilReady(): Promise<void> {
    let failures = 0;
    while (this.dir.phase(this.now()) !== 'ready') {
      if (this.closed) throw new TelescopeError('client closed during bootstrap');
      const phase = this.dir.phase(this.now());
      if (phase === 'need-consensus') this.progress(25, 'requesting_status', 'Asking for networkstatus consensus');
      if (phase === 'need-certs') this.progress(40, 'loading_keys', 'Loading authority key certs');
      if (phase === 'need-microdescs') {
        const { have, total } = this.dir.microdescCoverage();
        this.progress(45 + Math.floor((30 * have) / Math.max(1, total)), 'loading_descriptors', `Loading relay descriptors (${have}/${total})`);
      }
      const requests = this.dir.nextRequests(this.now());
      const results = await Promise.allSettled(requests.map((r) => this.fetchAndApply(r)));
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length > 0) {
        failures++;
        for (const f of failed) this.log.warn(`directory fetch failed: ${(f as PromiseRejectedResult).reason instanceof Error ? ((f as PromiseRejectedResult).reason as Error).message : String((f as PromiseRejectedResult).reason)}`);
        const cause = (failed[0] as PromiseRejectedResult).reason;
        this.reportFailure(cause);
        if (failures >= 8) throw new TelescopeError(`bootstrap stalled in phase ${phase}: ${failed.length} directory request(s) keep failing`, { cause });
        await new Promise((r) => setTimeout(r, Math.min(8_000, 500 * 2 ** failures)));
      }
    }
    await this.persist();
  }

  private async fetchAndApply(req: DirRequest): Promise<void> {
    let body: Uint8Array;
    try {
      body = await this.fetchDirectory(req.path);
    } catch (e) {
      this.dir.requestFailed(req);
      throw e;
    }
    const text = new TextDecoder('latin1').decode(body);
    const now = this.now();
    switch (req.kind) {
      case 'consensus': {
        this.progress(30, 'loading_status', 'Loading networkstatus consensus');
        const r = this.dir.addConsensus(text, now);
        this.log.info(r === 'accepted' ? `accepted a consensus valid until ${this.dir.current!.validUntil.toISOString()}` : 'consensus needs authority certificates');
        break;
      }
      case 'certs':
        this.dir.addCerts(text, now);
        break;
      case 'microdescs': {
        const { added, unknown } = this.dir.addMicrodescs(text);
        if (unknown > 0) this.log.warn(`${unknown} microdescriptor(s) not listed in the consensus were discarded`);
        this.log.debug(`${added} microdescriptor(s) added`);
        break;
      }
    }
  }

  private async persist(): Promise<void> {
    const s = this.dir.stored();
    if (s.consensus) await this.opts.store.set('consensus-microdesc', s.consensus);
    if (s.certs) await this.opts.store.set('cached-certs', s.certs);
    if (s.microdescs) await this.opts.store.set('cached-microdescs', s.microdescs);
  }

  /** Fetch a directory document: through a bridge or guard over BEGIN_DIR, else an authority's DirPort. */
  private async fetchDirectory(path: string): Promise<Uint8Array> {
    const source = this.directorySource();
    if (source === 'dirport') {
      const auths = [...this.opts.authorities].sort(() => secureUniform() - 0.5);
      let last: unknown;
      for (const a of auths) {
        try {
          this.progress(5, 'conn', `Connecting to directory authority ${a.nickname}`);
          return await this.opts.dirPortGet!(a.address, a.dirPort, path);
        } catch (e) {
          last = e;
          this.log.info(`DirPort fetch of ${path} from ${a.nickname} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      throw new TelescopeError(`no directory authority answered ${path}: ${last instanceof Error ? last.message : String(last)}`, { cause: last });
    }
    const circuit = await this.directoryCircuit(source);
    try {
      const stream = await circuit.openDirStream({ timeoutMs: 30_000 });
      return await dirGet(stream, path);
    } catch (e) {
      if (!circuit.isOpen) this.dirCircuit = undefined;
      throw e;
    }
  }

  private directorySource(): RelayTarget | 'dirport' | 'guard' {
    const bridge = this.bridges.find((b) => b.ntorOnionKey !== undefined);
    if (bridge) return bridgeTarget(bridge);
    if (this.dir.netDir(this.now())) return 'guard';
    if (this.opts.dirPortGet) return 'dirport';
    throw new TelescopeError('no directory source: configure a bridge, or run where authorities\' DirPorts can be reached');
  }

  private directoryCircuit(source: RelayTarget | 'guard'): Promise<Circuit> {
    const existing = this.dirCircuit;
    if (existing) return existing.then((c) => (c.isOpen ? c : this.newDirCircuit(source)), () => this.newDirCircuit(source));
    return this.newDirCircuit(source);
  }

  private newDirCircuit(source: RelayTarget | 'guard'): Promise<Circuit> {
    const p = (async () => {
      this.progress(5, 'conn', 'Connecting to a relay');
      let target: RelayTarget;
      if (source === 'guard') {
        const guard = await this.guards.pick(this.requireNetDir());
        target = { nickname: guard.nickname, rsaIdentity: guard.rsaIdentity, ntorOnionKey: guard.ntorOnionKey, ipv4: guard.ipv4, ...(guard.ed25519Identity ? { ed25519Identity: guard.ed25519Identity } : {}) };
      } else target = source;
      const channel = await this.pool.get(target);
      this.checkClock(channel.link);
      this.progress(15, 'handshake_done', 'Handshake with a relay done');
      const c = await Circuit.create(channel, target, this.opts.circuitOptions);
      this.progress(20, 'onehop_create', 'Establishing an encrypted directory connection');
      return c;
    })();
    this.dirCircuit = p;
    // The caller sees the failure; here we only forget the broken circuit.
    p.catch(() => { if (this.dirCircuit === p) this.dirCircuit = undefined; });
    return p;
  }

  /** tor-spec NETINFO: the peer's clock, when it gives one, tells us whether ours is off. */
  private checkClock(link: object): void {
    if (!('peerTime' in link) || !(link.peerTime instanceof Date) || link.peerTime.getTime() === 0) return;
    const now = this.now();
    this.peerClockSkewMs = now.getTime() - link.peerTime.getTime();
    const warning = clockSkewFromNetinfo(link.peerTime, now);
    if (warning && !this.clockWarning) this.log.warn(warning.message);
    this.clockWarning = warning;
  }

  /**
   * For bridges given without their ntor key (a plain tor `Bridge IP:PORT FINGERPRINT` line),
   * fetch the bridge's descriptor from the bridge itself over a CREATE_FAST one-hop circuit, as
   * tor does: the link handshake has already proven the bridge's identity.
   */
  private async learnBridgeKeys(): Promise<void> {
    for (const [i, b] of this.bridges.entries()) {
      if (b.ntorOnionKey) continue;
      const v4 = parseIp(b.address)?.bytes;
      if (!v4 || v4.length !== 4) throw new UsageError(`bridge address ${b.address} is not an IPv4 address`);
      const rsaIdentity = fromHex(b.fingerprint);
      this.progress(5, 'conn', `Connecting to bridge ${b.address}:${b.port}`);
      // The channel needs only the identity to check; the (unknown) ntor key is never used on it.
      const channel = await this.pool.get({ rsaIdentity, ntorOnionKey: new Uint8Array(32), ipv4: { address: v4, port: b.port } });
      this.progress(10, 'handshake_done', `Handshake with bridge ${b.address}:${b.port} done`);
      const circuit = await Circuit.createFast(channel, this.opts.circuitOptions);
      try {
        const body = await dirGet(await circuit.openDirStream({ timeoutMs: 30_000 }), '/tor/server/authority');
        const desc = parseBridgeDescriptor(body);
        checkDescriptorIdentity(desc, rsaIdentity);
        this.bridges[i] = { ...b, ntorOnionKey: desc.ntorOnionKey, ...(desc.ed25519Identity ? { ed25519Identity: desc.ed25519Identity } : {}) };
        this.log.notice(`learnt the ntor key of bridge ${desc.nickname} (${desc.fingerprint}) from its descriptor`);
      } finally {
        circuit.destroy();
      }
    }
  }

  /** Fetch a newer consensus (and its microdescriptors) when the current one is due. */
  private async refreshDirectory(): Promise<void> {
    if (this.refreshing || this.closed || !this.dir.wantsRefresh(this.now())) return;
    this.refreshing = true;
    try {
      for (const req of this.dir.nextRequests(this.now())) await this.fetchAndApply(req);
      // Microdescriptors for relays new in the fresh consensus.
      for (const req of this.dir.nextRequests(this.now()).filter((r) => r.kind !== 'consensus')) await this.fetchAndApply(req);
      await this.persist();
    } catch (e) {
      if (!(e instanceof TelescopeError)) throw e;
      this.log.info(`directory refresh failed (will retry): ${e.message}`);
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * Open a stream to host:port through a circuit for `isolationKey`. The hostname goes to the
   * exit as typed (never resolved here). Retries on other circuits when the exit refuses for a
   * reason another exit may not have.
   */
  async connect(host: string, port: number, opts: { isolationKey?: string; attempts?: number; onOnionPhase?: (p: OnionPhase) => void } = {}): Promise<{ stream: TorStream; circuit: ManagedCircuit }> {
    const key = opts.isolationKey ?? 'default';
    if (isOnionHost(host)) return this.onion.connect(host, port, { isolationKey: key, ...(opts.onOnionPhase ? { onPhase: opts.onOnionPhase } : {}) });
    const tried = new Set<Circuit>();
    const attempts = opts.attempts ?? 4;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      const mc = await this.circuits.get(port, key, tried);
      try {
        const stream = await mc.circuit.openStream(host, port, { timeoutMs: 20_000 });
        return { stream, circuit: mc };
      } catch (e) {
        if (!(e instanceof TelescopeError)) throw e;
        last = e;
        const reason = e instanceof StreamError ? e.reason : undefined;
        if (reason !== undefined && !RETRIABLE_END.has(reason)) throw e;
        this.log.info(`stream to ${host}:${port} failed on circuit ${mc.circuit.id} (${e.message}); trying another circuit`);
        tried.add(mc.circuit);
      }
    }
    throw last instanceof Error ? last : new StreamError(`could not open a stream to ${host}:${port}`);
  }

  /** Resolve a hostname at an exit (RESOLVE), for SOCKS RESOLVE. */
  async resolve(host: string, opts: { isolationKey?: string } = {}): Promise<string[]> {
    const mc = await this.circuits.get(undefined, opts.isolationKey ?? 'default');
    const answer = await mc.circuit.resolve(host);
    return answer.describe();
  }

  /** Drop all circuits: later streams get fresh ones (new identity). */
  newIdentity(): void {
    this.onion.forget();
    this.circuits.dropAll();
  }

  close(): void {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.circuits.close();
    this.pool.closeAll();
  }
}

function bridgeTarget(b: BridgeInfo): RelayTarget {
  if (!b.ntorOnionKey) throw new UsageError(`bridge ${b.fingerprint}: ntor key not known yet`);
  // A WebSocket bridge may be named by host name: the transport dials its URL, and as the first
  // hop its address never goes into an EXTEND2, so 0.0.0.0 stands in for it.
  const parsed = parseIp(b.address);
  const v4 = parsed?.family === 4 ? parsed.bytes : new Uint8Array(4);
  return {
    nickname: 'bridge',
    rsaIdentity: fromHex(b.fingerprint),
    ntorOnionKey: b.ntorOnionKey,
    ipv4: { address: v4, port: b.port },
    ...(b.ed25519Identity ? { ed25519Identity: b.ed25519Identity } : {}),
  };
}

/**
 * With bridges, the bridges are the only guards: the network view gets them as Guard relays and
 * loses the Guard flag everywhere else.
 */
function withBridges(dir: NetDir, bridges: readonly BridgeInfo[]): NetDir {
  const bridgeRelays: NetRelay[] = bridges.map((b) => {
    const t = bridgeTarget(b);
    const listed = dir.relays.find((r) => r.fingerprint === b.fingerprint.toUpperCase());
    return {
      nickname: listed?.nickname ?? 'bridge',
      rsaIdentity: t.rsaIdentity,
      fingerprint: b.fingerprint.toUpperCase(),
      ed25519Identity: t.ed25519Identity,
      ntorOnionKey: t.ntorOnionKey,
      ipv4: t.ipv4!,
      ipv6: undefined,
      dirPort: 0,
      flags: new Set(['Guard', 'Running', 'Valid', 'Fast', 'Stable', 'V2Dir']),
      bandwidth: 1,
      family: listed?.family ?? [],
      familyIds: listed?.familyIds ?? [],
      exitPolicy: { allowsPort: () => false },
      protocols: listed?.protocols ?? new Map(),
    };
  });
  const others = dir.relays
    .filter((r) => !bridgeRelays.some((b) => b.fingerprint === r.fingerprint))
    .map((r) => (r.flags.has('Guard') ? { ...r, flags: new Set([...r.flags].filter((f) => f !== 'Guard')) } : r));
  return { ...dir, relays: [...bridgeRelays, ...others] };
}
