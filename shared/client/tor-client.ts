import type { ByteTransport, TransportFactory, LinkAuthenticator } from '../channel/index.ts';
import type { CircuitOptions } from '../circuit/index.ts';
import { DIFF_FROM_HEADER, DirectoryState, DirectoryStore, MissingProtocolsError, microdescRequest, type DirAuthority, type DirRequest, type FallbackDir, type SoftwareProtocols } from '../directory/index.ts';
import { looksLikeConsensusDiff } from '../netdoc/index.ts';
import { NetworkUnreachableError, TelescopeError, UsageError, WriteTrackingStore, silentLogger, type Logger, type KeyValueStore } from '../util/index.ts';
import { GuardManager, DEFAULT_PATH_RULES, secureUniform, type PathRules } from '../path/index.ts';
import { describeRelay, type NetDir } from '../netdir/index.ts';
import type { TorStream } from '../stream/index.ts';
import { ChannelPool, CircuitManager, DirectoryFetcher, DirectoryHttpError, downloadMicrodescs, learnBridgeKey, type DirectoryFetcherOptions, openExitStream, withBridges, type BridgeInfo, type ManagedCircuit } from '../circmgr/index.ts';
import { isOnionHost, OnionServiceClient, type OnionPhase } from '../onion/index.ts';
import { classifyBootstrapFailure, clockSkewFromNetinfo, type BootstrapProblem } from './bootstrap-problem.ts';
import { TELESCOPE_CLIENT_PROTOCOLS } from './protocols.ts';

/**
 * The Tor client: bootstraps a verified view of the network, keeps it fresh, and opens streams
 * (to exits, or to onion services) through the circuits circmgr/ manages. Hosts supply transports
 * (TLS in Node, WebSocket in the extension), storage and logging; everything else is here, shared
 * by the SOCKS client and the extension.
 */

export type { BridgeInfo } from '../circmgr/index.ts';

export interface BootstrapStatus {
  readonly percent: number;
  readonly tag: string;
  readonly summary: string;
  /** Why bootstrapping is stuck (while it retries, or after it gave up), or a clock warning. */
  readonly problem?: BootstrapProblem;
}

export interface TorClientOptions {
  /** The v3 authorities whose majority must sign the consensus (also directory sources, on tor's terms). */
  readonly authorities: readonly DirAuthority[];
  /** Fallback directories: the first sources of a bootstrap without a usable consensus (none: the authorities). */
  readonly fallbacks?: readonly FallbackDir[];
  /**
   * Whether `authorities` is the host's built-in list (the public network's) or came from the
   * person's DirAuthority lines ('configured', the default): a bootstrap problem's advice names the
   * right thing to fix.
   */
  readonly authoritySet?: 'configured' | 'built-in';
  readonly transports: TransportFactory;
  readonly store: KeyValueStore;
  /** The first contact's schedule, clock, timers and randomness (tests); tor's schedule by default. */
  readonly firstContact?: DirectoryFetcherOptions['firstContact'];
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
  /**
   * Replaced consensuses to keep so a directory cache (the relay) can serve diffs from them to
   * clients that still hold them. Default none: a client needs only its current one.
   */
  readonly keepPreviousConsensuses?: number;
  /**
   * What this software implements, checked against each consensus' required and recommended
   * protocols (shared/directory/protocol-check.ts). Default: the client's (TELESCOPE_CLIENT_PROTOCOLS);
   * a relay passes its own.
   */
  readonly protocols?: SoftwareProtocols;
  /** A consensus required protocols we lack: the client has stopped (tor exits). */
  readonly onProtocolsRefused?: (error: MissingProtocolsError) => void;
}

/** How long new microdescriptors wait before being written (batches arriving meanwhile join them). */
const SAVE_DELAY_MS = 2_000;

export class TorClient {
  readonly pool: ChannelPool;
  readonly guards: GuardManager;
  readonly circuits: CircuitManager;
  /** Streams to .onion names go through the onion-service client (rendezvous circuits). */
  readonly onion: OnionServiceClient;
  private readonly dir: DirectoryState;
  private readonly fetcher: DirectoryFetcher;
  private readonly dirStore: DirectoryStore;
  /** A save of new microdescriptors waiting (writes are grouped, not one per batch). */
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly log: Logger;
  private status: BootstrapStatus = { percent: 0, tag: 'starting', summary: 'Starting' };
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private refreshing = false;
  private closed = false;
  /** The last bootstrap failure, until bootstrapping gets further. */
  private failure: BootstrapProblem | undefined;
  /** A bridge's NETINFO clock far from ours: stands even when bootstrapping succeeds. */
  private clockWarning: BootstrapProblem | undefined;
  private peerClockSkewMs: number | undefined;
  /** Set when a consensus required protocols we lack: the client no longer uses the network. */
  private refused: MissingProtocolsError | undefined;

  /** Bridges with their ntor keys (from the bridge line, or fetched from the bridge). */
  private bridges: BridgeInfo[];

  private readonly opts: TorClientOptions;
  /** The host's store as every part of the client writes to it: close() waits for writes in flight. */
  private readonly store: WriteTrackingStore;

  constructor(options: TorClientOptions) {
    this.store = new WriteTrackingStore(options.store);
    this.opts = { ...options, store: this.store };
    const opts = this.opts;
    this.bridges = [...(opts.bridges ?? [])];
    if (opts.authorities.length === 0) throw new UsageError('the client needs at least one directory authority');
    this.log = opts.log ?? silentLogger;
    this.pool = new ChannelPool(opts.transports, { log: this.log, ...(opts.now ? { now: opts.now } : {}), ...(opts.linkAuthenticator ? { authenticator: opts.linkAuthenticator } : {}) });
    this.guards = new GuardManager(opts.store, { rules: this.rules, log: this.log });
    this.dir = new DirectoryState(opts.authorities.map((a) => ({ fingerprint: a.v3ident })), {
      skewMs: opts.skewMs ?? 5 * 60_000,
      random: secureUniform,
      ...(opts.keepPreviousConsensuses ? { keepPreviousConsensuses: opts.keepPreviousConsensuses } : {}),
      protocols: opts.protocols ?? { role: 'client', supported: TELESCOPE_CLIENT_PROTOCOLS },
    });
    this.dirStore = new DirectoryStore(opts.store);
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
    this.fetcher = new DirectoryFetcher({
      pool: this.pool,
      guards: this.guards,
      netDir: () => this.netDir,
      bridges: () => this.bridges,
      authorities: opts.authorities,
      fallbacks: opts.fallbacks ?? [],
      ...(opts.firstContact ? { firstContact: opts.firstContact } : {}),
      ...(opts.circuitOptions ? { circuitOptions: opts.circuitOptions } : {}),
      log: this.log,
      progress: (percent, tag, summary) => this.progress(percent, tag, summary),
      linkOpened: (link) => this.checkClock(link),
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
      ...(this.opts.authoritySet ? { authoritySet: this.opts.authoritySet } : {}),
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
    let problems: string[];
    try {
      problems = await this.dirStore.restoreInto(this.dir, this.now());
    } catch (e) {
      if (e instanceof MissingProtocolsError) this.refuse(e);
      throw e;
    }
    for (const p of problems) this.log.info(`not using cached ${p}`);
    if (this.dir.current) this.warnAboutProtocols();
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
      const microdescs = requests.filter((r) => r.kind === 'microdescs');
      const others = requests.filter((r) => r.kind !== 'microdescs');
      const results = await Promise.allSettled([...others.map((r) => this.fetchAndApply(r)), ...(microdescs.length > 0 ? [this.fetchMicrodescs(microdescs)] : [])]);
      const failed = results.filter((r) => r.status === 'rejected');
      const refusal = failed.map((f) => (f as PromiseRejectedResult).reason).find((e): e is MissingProtocolsError => e instanceof MissingProtocolsError);
      if (refusal) {
        // Not a failure to retry: this build must not use this network (tor exits here).
        this.refuse(refusal);
        throw refusal;
      }
      if (failed.length > 0) {
        failures++;
        for (const f of failed) this.log.warn(`directory fetch failed: ${(f as PromiseRejectedResult).reason instanceof Error ? ((f as PromiseRejectedResult).reason as Error).message : String((f as PromiseRejectedResult).reason)}`);
        const cause = (failed[0] as PromiseRejectedResult).reason;
        this.reportFailure(cause);
        // No source of the network answered: that is the answer (tor would retry for ever, but a
        // person waiting needs to hear it now; a later bootstrap tries again).
        if (cause instanceof NetworkUnreachableError) throw cause;
        if (failures >= 8) throw new TelescopeError(`bootstrap stalled in phase ${phase}: ${failed.length} directory request(s) keep failing`, { cause });
        await new Promise((r) => setTimeout(r, Math.min(8_000, 500 * 2 ** failures)));
      }
    }
    await this.persist();
  }

  /**
   * Fetch these microdescriptor requests in parallel over the directory caches (downloadMicrodescs:
   * bounded parallelism, timeouts, failed batches retried elsewhere, wrong answers dropped), saving
   * what arrives as it comes. Fails, with the last cache failure, when the directory is still not
   * ready afterwards and some digests could not be fetched.
   */
  private async fetchMicrodescs(requests: readonly DirRequest[]): Promise<void> {
    let caches;
    try {
      caches = await this.fetcher.caches();
    } catch (e) {
      for (const r of requests) this.dir.requestFailed(r);
      throw e;
    }
    const result = await downloadMicrodescs(requests.map((r) => r.digests ?? []), {
      sources: caches,
      fetch: (cache, digests, signal) => this.fetcher.fetchFrom(cache, microdescRequest(digests).path, signal),
      apply: (body, digests) => {
        const answer = this.dir.addMicrodescBatch(new TextDecoder('latin1').decode(body), digests);
        if (answer.added > 0) {
          this.scheduleSave();
          const { have, total } = this.dir.microdescCoverage();
          if (this.status.percent < 75) this.progress(45 + Math.floor((30 * have) / Math.max(1, total)), 'loading_descriptors', `Loading relay descriptors (${have}/${total})`);
        }
        return answer;
      },
      random: secureUniform,
      log: this.log,
    });
    this.log.info(`microdescriptors: ${result.answered} answer(s) from ${caches.length} cache(s)${result.gaveUp.length > 0 ? `, ${result.gaveUp.length} not fetched` : ''}${result.charges.length > 0 ? `, ${result.charges.length} cache failure(s)` : ''}`);
    if (result.gaveUp.length === 0) return;
    this.dir.requestFailed(microdescRequest(result.gaveUp));
    if (this.dir.phase(this.now()) === 'ready') return;
    const last = [...result.charges].reverse().find((c) => c.error !== undefined)?.error;
    throw last ?? new TelescopeError(`${result.gaveUp.length} microdescriptor(s) could not be fetched from ${caches.length} directory cache(s)`);
  }

  /** Save new directory documents soon: batches arriving close together are written together. */
  private scheduleSave(): void {
    if (this.saveTimer || this.closed) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.persist().catch((e: unknown) => this.log.warn(`saving the directory failed: ${e instanceof Error ? e.message : String(e)}`));
    }, SAVE_DELAY_MS);
    (this.saveTimer as { unref?: () => void }).unref?.();
  }

  private async fetchAndApply(req: DirRequest): Promise<void> {
    let body: Uint8Array;
    try {
      body = await this.fetcher.fetch(req.path, req.diffFrom ? { [DIFF_FROM_HEADER]: req.diffFrom.toUpperCase() } : {});
    } catch (e) {
      this.dir.requestFailed(req);
      throw e;
    }
    const text = new TextDecoder('latin1').decode(body);
    const now = this.now();
    switch (req.kind) {
      case 'consensus': {
        this.progress(30, 'loading_status', 'Loading networkstatus consensus');
        let r: ReturnType<DirectoryState['addConsensusResponse']>;
        try {
          r = this.dir.addConsensusResponse(text, now);
        } catch (e) {
          // A refusal for missing protocols is about the consensus, not the diff.
          if (!req.diffFrom || !looksLikeConsensusDiff(text) || !(e instanceof TelescopeError) || e instanceof MissingProtocolsError) throw e;
          // A diff is only a saving: whatever was wrong with it (or with what it gave), the whole
          // document may still be fine.
          this.log.notice(`consensus diff not used (${e.message}); fetching the full consensus`);
          await this.fetchAndApply({ kind: 'consensus', path: req.path });
          return;
        }
        if (r.fromDiff) this.log.notice(`applied a consensus diff: ${body.length} bytes instead of the ${this.dir.consensusText()!.length}-byte consensus (diffs applied: ${this.dir.diffsApplied})`);
        this.log.info(r.outcome === 'accepted' ? `accepted a consensus valid until ${this.dir.current!.validUntil.toISOString()}` : 'consensus needs authority certificates');
        if (r.outcome === 'accepted') this.warnAboutProtocols();
        break;
      }
      case 'certs': {
        const waiting = this.dir.current;
        this.dir.addCerts(text, now);
        // A consensus that waited for these certificates is accepted now.
        if (this.dir.current !== waiting) this.warnAboutProtocols();
        break;
      }
      case 'microdescs': {
        const { added, unknown } = this.dir.addMicrodescs(text);
        if (unknown > 0) this.log.warn(`${unknown} microdescriptor(s) not listed in the consensus were discarded`);
        this.log.debug(`${added} microdescriptor(s) added`);
        break;
      }
    }
  }

  /** Recommended protocols we lack: a warning, once per consensus accepted (as tor and Arti). */
  private warnAboutProtocols(): void {
    const w = this.dir.protocolWarning;
    if (w) this.log.warn(w);
  }

  /** A consensus requires protocols we lack: say so, and stop using the network. */
  private refuse(e: MissingProtocolsError): void {
    if (this.refused) return;
    this.refused = e;
    this.log.warn(e.message);
    this.reportFailure(e);
    this.close();
    this.opts.onProtocolsRefused?.(e);
  }

  /** Set when a consensus required protocols this build lacks (the client has stopped). */
  get protocolRefusal(): MissingProtocolsError | undefined {
    return this.refused;
  }

  /** Write what changed in the directory (DirectoryStore: only new documents, not everything). */
  private async persist(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.dirStore.save(this.dir);
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

  /** Bridges given without their ntor key (a plain tor `Bridge` line) learn it from their descriptor. */
  private async learnBridgeKeys(): Promise<void> {
    for (const [i, b] of this.bridges.entries()) {
      if (b.ntorOnionKey) continue;
      this.bridges[i] = await learnBridgeKey(this.pool, b, {
        log: this.log,
        ...(this.opts.circuitOptions ? { circuitOptions: this.opts.circuitOptions } : {}),
        progress: (percent, tag, summary) => this.progress(percent, tag, summary),
      });
    }
  }

  /** Fetch a newer consensus (and its microdescriptors) when the current one is due. */
  private async refreshDirectory(): Promise<void> {
    if (this.refreshing || this.closed || !this.dir.wantsRefresh(this.now())) return;
    this.refreshing = true;
    try {
      for (const req of this.dir.nextRequests(this.now())) {
        if (req.kind === 'microdescs') this.dir.requestFailed(req); // fetched below, with the new consensus' ones
        else await this.fetchAndApply(req);
      }
      // Microdescriptors for relays new in the fresh consensus.
      const requests = this.dir.nextRequests(this.now());
      for (const req of requests.filter((r) => r.kind === 'certs')) await this.fetchAndApply(req);
      const microdescs = requests.filter((r) => r.kind === 'microdescs');
      if (microdescs.length > 0) await this.fetchMicrodescs(microdescs);
      await this.persist();
    } catch (e) {
      if (e instanceof MissingProtocolsError) return this.refuse(e);
      if (!(e instanceof TelescopeError)) throw e;
      // 304: the cache holds nothing newer than what we sent the digest of (dir-spec); not a failure.
      if (e instanceof DirectoryHttpError && e.status === 304) this.log.info('directory refresh: the cache has no newer consensus yet; asking again later');
      else this.log.info(`directory refresh failed (will retry): ${e.message}`);
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * Open a stream to host:port through a circuit for `isolationKey`: .onion names through the
   * onion-service client, others through an exit (the name unresolved, retried on other circuits
   * when an exit refuses for a reason another may not have).
   */
  async connect(host: string, port: number, opts: { isolationKey?: string; attempts?: number; onOnionPhase?: (p: OnionPhase) => void } = {}): Promise<{ stream: TorStream; circuit: ManagedCircuit }> {
    if (this.refused) throw this.refused;
    const key = opts.isolationKey ?? 'default';
    if (isOnionHost(host)) return this.onion.connect(host, port, { isolationKey: key, ...(opts.onOnionPhase ? { onPhase: opts.onOnionPhase } : {}) });
    return openExitStream(this.circuits, host, port, { isolationKey: key, log: this.log, ...(opts.attempts !== undefined ? { attempts: opts.attempts } : {}) });
  }

  /** Resolve a hostname at an exit (RESOLVE), for SOCKS RESOLVE. */
  async resolve(host: string, opts: { isolationKey?: string } = {}): Promise<string[]> {
    if (this.refused) throw this.refused;
    const mc = await this.circuits.get(undefined, opts.isolationKey ?? 'default');
    const answer = await mc.circuit.resolve(host);
    return answer.describe();
  }

  /** Drop all circuits: later streams get fresh ones (new identity). */
  newIdentity(): void {
    this.onion.forget();
    this.circuits.dropAll();
  }

  /**
   * Stop: timers, circuits and links at once; resolves when the store writes already started
   * (directory documents, guard state) have landed, so the host may then remove or reuse the
   * DataDirectory. No write starts after this.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.circuits.close();
    this.pool.closeAll();
    await this.store.close();
  }
}
