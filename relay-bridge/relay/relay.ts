import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { equalBytes, toBase64 } from '../../shared/bytes/index.ts';
import { formatIp, isLoopback, parseIp, unmapIpv4 } from '../../shared/addr/index.ts';
import { torAddressOf, type TorAddress } from '../../shared/cells/index.ts';
import { Channel } from '../../shared/channel/index.ts';
import type { ByteTransport, InitiatorAuthentication, LinkAuthenticator } from '../../shared/channel/index.ts';
import type { LinkSpecifier, Begin } from '../../shared/cells/index.ts';
import { TorClient } from '../../shared/client/index.ts';
import type { MissingProtocolsError } from '../../shared/directory/index.ts';
import { TelescopeError, relayRateLimits, type RelayRateLimits, UnexpectedErrors } from '../../shared/util/index.ts';
import type { Logger } from '../../shared/util/index.ts';
import { fingerprintOf, relayTarget } from '../../shared/netdir/index.ts';
import {
  DirectoryServer, DEFAULT_CIRCUIT_CELL_QUEUE_LIMIT, type ExitOutcome, type CircuitCellQueueLimits,
  RelaySwitch, DosGuard, resolveDosParams, ConnectFailureCache, CellQueueMemory, TELESCOPE_RELAY_PROTOCOLS,
} from '../../shared/relay/index.ts';
import { secureRandomBytes, verifyInitiatorCerts, type VerifiedInitiatorIdentity } from '../../shared/crypto/index.ts';
import { nodeAesCtr } from '../../node-platform/node-aes-ctr.ts';
import { nodeCurve25519 } from '../../node-platform/node-x25519.ts';
import { FileStore } from '../../node-platform/file-store.ts';
import { listenTls, listenWebSocket, type Admission, type Listener, type PeerInfo } from '../net/listeners.ts';
import { pipeStream } from '../../node-platform/pipe.ts';
import { ThrottledTransport } from '../net/throttle.ts';
import { TlsTransport, tlsTransportFactory } from '../../node-platform/tls-transport.ts';
import { LinkCertificates, authIdentityDigest, checkAuthenticate, exportAuthTlsSecrets, initiatorAuthenticator } from './certs-cell.ts';
import type { RelayConfig } from './config.ts';
import { ExitLimits, answerResolve, endReasonForError, openExitStream } from './exit.ts';
import { RelayKeys } from './keys.ts';
import { makeTlsCredentialsAsync, tlsServerOptions, type TlsCredentials } from './tls-cert.ts';
import { buildServerDescriptor } from './descriptor.ts';
import { postDescriptor } from './publish.ts';

/**
 * The relay-bridge: a Tor relay in Node. Browsers reach it over WebSocket, relays and tor
 * clients over its TLS ORPort; on both it answers the link handshake as a relay (CERTS proving its
 * RSA and Ed25519 identities), creates circuits with ntor, extends them to relays listed in the
 * consensus (never elsewhere: it must not become an open proxy), exits under its exit policy, and
 * serves the directory documents it keeps fresh, so a browser can bootstrap through it.
 */

export interface RelayBridgeOptions {
  readonly config: RelayConfig;
  readonly dataDirectory: string;
  readonly log: Logger;
  /** Where unexpected errors are counted (the CLI's process net shares it); default: its own. */
  readonly unexpected?: UnexpectedErrors;
  /**
   * The relay stopped itself because the network's consensus requires relay protocols it does not
   * implement (tor exits then); the CLI exits with an error.
   */
  readonly onStopped?: (reason: MissingProtocolsError) => void;
}

/** The `Bridge` line clients use for this relay (documented in the README). */
export interface BridgeLines {
  /** For the extension: `telescope ws://HOST:PORT FINGERPRINT ed25519=… ntor=…` */
  readonly webSocket: string | undefined;
  /** For tor and Telescope's SOCKS client: `HOST:ORPORT FINGERPRINT`. */
  readonly orPort: string;
}

/**
 * Replaced consensuses the relay's directory cache keeps to serve diffs from (tor keeps 72 h of
 * them on disk). A client refreshes within hours of its consensus (it stays valid 3 h on the
 * public network), so six hourly ones serve nearly every refresh; at full size each is 3.5 MB of
 * text held in memory, which bounds the cost.
 */
const CONSENSUSES_KEPT_FOR_DIFFS = 6;

export class RelayBridge {
  private readonly listeners: Listener[] = [];
  private orListener: (Listener & { setCredentials(c: { key: string; cert: string }): void }) | undefined;
  private readonly channels = new Set<Channel>();
  /** tor's per-address DoS defences (DoS* options over the consensus params); addresses in memory only. */
  readonly dos: DosGuard;
  /** Connections open now over all listeners, handshakes included (MaxConnections). */
  private openConnections = 0;
  /** Connections the gate refused (MaxConnections, DoS), for the status line. */
  private refusedConnections = 0;
  private housekeepingTimer: ReturnType<typeof setInterval> | undefined;
  private maintenanceTimer: ReturnType<typeof setInterval> | undefined;
  private trafficTimer: ReturnType<typeof setInterval> | undefined;
  readonly switch: RelaySwitch;
  readonly directoryClient: TorClient;
  /** Errors that are no TelescopeError, caught by circuits, channels and the process net. */
  readonly unexpected: UnexpectedErrors;
  /** MaxExitSockets, MaxConcurrentDnsLookups: what all exit streams together may hold. */
  readonly exitLimits: ExitLimits;
  /** Relays we recently failed to reach: EXTEND2s to them are refused for a minute. */
  private readonly extendFailures = new ConnectFailureCache();
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  /** BEGIN_DIR service: documents encoded and compressed once per version, stalled streams closed. */
  readonly directoryServer: DirectoryServer;
  /** MaxMemInQueues: every circuit's queued cells, and the handler that kills the oldest. */
  readonly queueMemory: CellQueueMemory;
  private queueLimits: { params: ReadonlyMap<string, number> | undefined; limits: CircuitCellQueueLimits } | undefined;
  private linkCerts: LinkCertificates;
  /** BandwidthRate/BandwidthBurst: one relay-wide bucket for everything read. */
  private readonly limits: RelayRateLimits;
  private readonly startedAt = Date.now();
  private cachedDescriptor: { text: string; madeAt: number; onionKey: Uint8Array } | undefined;
  private published: ReturnType<typeof setInterval> | undefined;
  /** Highest bytes/s seen over any 10-second window: the descriptor's observed bandwidth. */
  private observedBandwidth = 0;
  private lastTraffic = { at: Date.now(), bytes: 0 };
  private readonly closedChannelBytes = { value: 0 };

  private constructor(private readonly opts: RelayBridgeOptions, readonly keys: RelayKeys, tls: TlsCredentials) {
    const { config, log } = opts;
    this.unexpected = opts.unexpected ?? new UnexpectedErrors(log);
    this.exitLimits = new ExitLimits(config.maxExitSockets, config.maxConcurrentDnsLookups);
    this.linkCerts = new LinkCertificates(keys, tls);
    this.limits = relayRateLimits({ rate: config.bandwidthRate, burst: config.bandwidthBurst });
    const { network } = config;
    // The relay keeps a verified view of the network like a client does: to know which relays it
    // may extend to, and to serve the documents to the clients that bootstrap through it.
    this.directoryClient = new TorClient({
      authorities: network.authorities,
      // tor's directory_fetches_from_authorities: a public relay that serves directory documents
      // (as this one does, over BEGIN_DIR) fetches from the authorities themselves; a bridge, like a
      // client, starts with the fallbacks.
      fallbacks: config.bridgeRelay ? network.fallbacks : [],
      authoritySet: config.dirAuthorities.length > 0 ? 'configured' : 'built-in',
      // Links we open are read under the same budget as those we accept: a relay's downloads
      // arrive on the links it opened.
      transports: async (target) => new ThrottledTransport(await tlsTransportFactory(target), this.limits.read),
      store: new FileStore(join(opts.dataDirectory, 'cache')),
        log,
      rules: { enforceDistinctSubnets: !config.testingTorNetwork },
      keepPreviousConsensuses: CONSENSUSES_KEPT_FOR_DIFFS,
      circuitOptions: { aes: nodeAesCtr, log },
      // Checked against required-relay-protocols: a relay that lacks one must not join (tor-spec).
      protocols: { role: 'relay', supported: TELESCOPE_RELAY_PROTOCOLS, ignoreMissingRequired: config.ignoreMissingRequiredProtocols },
      onProtocolsRefused: (e) => {
        log.warn(`stopping: ${e.message}`);
        void this.stop().then(() => opts.onStopped?.(e));
      },
      // Links we open authenticate us as a relay, or tor relays would treat us as a client (and
      // refuse to exit for circuits that come through us).
      linkAuthenticator: (transport) => {
        const tls = transport instanceof ThrottledTransport ? transport.inner : transport;
        return tls instanceof TlsTransport ? this.authenticatorFor(tls) : undefined;
      },
    });
    this.queueMemory = new CellQueueMemory({ maxBytes: config.maxMemInQueues, log });
    this.directoryServer = new DirectoryServer({
      directory: () => this.directoryClient.directory,
      ownDescriptor: () => this.descriptor().text,
      fingerprint: keys.fingerprint,
    }, log);
    this.dos = new DosGuard({ params: resolveDosParams(undefined, config.dos), isRelayAddress: (a) => this.relayAddresses().has(a) });
    this.switch = new RelaySwitch({
      identity: keys.rsaIdentityDigest,
      onionKeys: () => keys.ntorKeys,
      aes: nodeAesCtr,
      curve: nodeCurve25519,
      maxCircuits: config.maxCircuits,
      createRate: config.createRateLimit,
      dos: this.dos,
      // A channel is a client's unless its peer authenticated as a relay our consensus lists.
      isKnownRelay: (fp) => this.knownRelays().fingerprints.has(fp),
      services: {
        log,
        extend: (specs) => this.extend(specs),
        unexpected: this.unexpected,
        // Only previous hops that are relays in our consensus may have streams exit here.
        isKnownRelay: (id) => this.knownRelays().fingerprints.has(fingerprintOf(id)),
        // A non-exit answers BEGIN/RESOLVE too, with the END reasons tor gives (exit.ts).
        openExit: (begin, signal) => this.openExit(begin, signal),
        resolve: (msg, signal) => answerResolve(msg, { isExit: config.isExit, policy: config.exitPolicy, limits: this.exitLimits, signal, log }),
        serveDirectory: (stream) => void this.directoryServer.serve(stream),
        queueMemory: this.queueMemory,
        cellQueueLimits: () => this.cellQueueLimits(),
      },
    });
  }

  static async start(opts: RelayBridgeOptions): Promise<RelayBridge> {
    const keys = await RelayKeys.loadOrCreate(opts.dataDirectory);
    // The link key (RSA-2048, up to a second on a busy machine) is made in the thread pool rather
    // than on the event loop, which has the cached directory to parse.
    const relay = new RelayBridge(opts, keys, await makeTlsCredentialsAsync(keys.identity));
    await relay.listen();
    relay.maintenanceTimer = setInterval(() => void relay.maintain(), 60_000);
    relay.maintenanceTimer.unref();
    relay.trafficTimer = setInterval(() => relay.sampleTraffic(), 10_000);
    relay.trafficTimer.unref();
    relay.housekeepingTimer = setInterval(() => relay.housekeeping(), HOUSEKEEPING_INTERVAL_MS);
    relay.housekeepingTimer.unref();
    if (opts.config.heartbeatPeriod > 0) {
      relay.heartbeatTimer = setInterval(() => opts.log.notice(relay.statusLine()), opts.config.heartbeatPeriod * 1000);
      relay.heartbeatTimer.unref();
    }
    if (opts.config.publishServerDescriptor && !opts.config.bridgeRelay) {
      void relay.publish();
      // tor republishes every 18 hours, or sooner when something in the descriptor changed.
      relay.published = setInterval(() => void relay.publish(), 18 * 3600 * 1000);
      relay.published.unref();
    }
    // Directory information arrives in the background; until then EXTEND2 is refused.
    relay.directoryClient.bootstrapDirectory().catch((e: unknown) => opts.log.warn(`directory bootstrap failed: ${e instanceof Error ? e.message : String(e)}`));
    return relay;
  }

  get fingerprint(): string {
    return this.keys.fingerprint;
  }

  private get advertisedAddress(): string {
    return this.opts.config.addresses.find((a) => parseIp(a)?.family === 4) ?? '127.0.0.1';
  }

  private async listen(): Promise<void> {
    const { config, log } = this.opts;
    for (const or of config.orPorts) {
      const l = await listenTls({ host: or.address ?? '0.0.0.0', port: or.port === 'auto' ? 0 : or.port, credentials: tlsServerOptions(this.linkCerts.tls) }, (t, peer) => this.accept(t, peer, 'tls'), { gate: (p) => this.admit(p), log });
      this.orListener ??= l;
      this.listeners.push(l);
      log.notice(`ORPort listening on ${or.address ?? '0.0.0.0'}:${l.port}`);
    }
    for (const ws of config.webSocketPorts) {
      const tls = ws.tls ? { cert: readPem(ws.tls.cert, 'cert'), key: readPem(ws.tls.key, 'key') } : undefined;
      const l = await listenWebSocket({ host: ws.address ?? '127.0.0.1', port: ws.port === 'auto' ? 0 : ws.port, path: ws.path, ...(tls ? { tls } : {}) }, (t, peer) => this.accept(t, peer, 'websocket'), { gate: (p) => this.admit(p), log });
      this.listeners.push(l);
      log.notice(`WebSocketPort listening on ${ws.tls ? 'wss' : 'ws'}://${ws.address ?? '127.0.0.1'}:${l.port}`);
    }
  }

  /**
   * Whether address:port reaches one of our own listeners: the port of a listener, at the address
   * it is bound to, or at any address of this host when it is bound to all of them.
   */
  private isOwnListener(address: string, port: number): boolean {
    const { config } = this.opts;
    const hosts = [...config.orPorts.map((p) => p.address ?? '0.0.0.0'), ...config.webSocketPorts.map((p) => p.address ?? '127.0.0.1')];
    return this.listeners.some((l, i) => {
      if (l.port !== port) return false;
      const host = hosts[i];
      if (host === undefined) return false;
      if (host === '0.0.0.0' || host === '::') return isLocalAddress(address);
      return host === address;
    });
  }

  /** Ports actually bound (port 0 in the config means "any"). */
  get ports(): { orPort: number | undefined; webSocketPort: number | undefined } {
    const or = this.opts.config.orPorts.length > 0 ? this.listeners[0]?.port : undefined;
    const ws = this.opts.config.webSocketPorts.length > 0 ? this.listeners[this.opts.config.orPorts.length]?.port : undefined;
    return { orPort: or, webSocketPort: ws };
  }

  bridgeLines(): BridgeLines {
    const { orPort, webSocketPort } = this.ports;
    const ws = this.opts.config.webSocketPorts[0];
    const host = ws?.address && ws.address !== '0.0.0.0' ? ws.address : this.advertisedAddress;
    const keys = `ed25519=${toBase64(this.keys.ed25519Identity, false)} ntor=${toBase64(this.keys.ntorKey.public, false)}`;
    return {
      webSocket: webSocketPort === undefined ? undefined : `telescope ${ws?.tls ? 'wss' : 'ws'}://${host}:${webSocketPort}${ws?.path ?? '/'} ${this.fingerprint} ${keys}`,
      orPort: `${this.advertisedAddress}:${orPort ?? 0} ${this.fingerprint}`,
    };
  }

  /**
   * Every TCP connection, before TLS or HTTP: refused over MaxConnections, or when tor's
   * per-address connection defence says so (dos.ts). The address is used as a key, never logged.
   */
  private admit(peer: PeerInfo): Admission | undefined {
    if (this.openConnections >= this.opts.config.maxConnections) {
      this.refusedConnections++;
      return undefined;
    }
    const address = canonicalAddress(peer.address);
    const verdict = address === undefined ? undefined : this.dos.admitConnection(address);
    if (verdict && !verdict.ok) {
      this.refusedConnections++;
      return undefined;
    }
    this.openConnections++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.openConnections--;
        if (verdict?.ok) verdict.release();
      },
    };
  }

  /** Close idle circuits and channels, forget idle addresses, follow the consensus' DoS params. */
  private housekeeping(): void {
    this.dos.setParams(resolveDosParams(this.directoryClient.netDir?.params, this.opts.config.dos));
    this.switch.housekeeping();
    this.dos.sweep();
    this.logDosActivity();
  }

  /** Addresses of the relays in the consensus (exempt from the DoS defences, as in tor). */
  private relayAddresses(): ReadonlySet<string> {
    const dir = this.directoryClient.netDir;
    if (!dir) return new Set();
    if (this.relayAddressSet?.dir !== dir) {
      const addresses = new Set<string>();
      for (const r of dir.relays) {
        addresses.add(formatIp(r.ipv4.address));
        if (r.ipv6) addresses.add(formatIp(r.ipv6.address));
      }
      this.relayAddressSet = { dir, addresses };
    }
    return this.relayAddressSet.addresses;
  }
  private relayAddressSet: { dir: object; addresses: ReadonlySet<string> } | undefined;

  private accept(raw: ByteTransport, peer: PeerInfo = { address: undefined }, kind: 'tls' | 'websocket' = 'tls'): void {
    const transport = new ThrottledTransport(raw, this.limits.read);
    // The TLS certificate this connection was made with (it may rotate while the handshake runs).
    const scert = this.linkCerts.tls.certDigest;
    const address = parseIp(this.advertisedAddress);
    const mine: TorAddress[] = address ? [torAddressOf(address)] : [];
    Channel.accept(transport, {
      certsBody: this.linkCerts.responderCerts(new Date()).encode(),
      challenge: secureRandomBytes(32),
      nowSeconds: () => Math.floor(Date.now() / 1000),
      // We do not tell peers their address: nothing about a client's address is kept or echoed.
      peerAddress: { type: 'ipv4', bytes: new Uint8Array(4) },
      myAddresses: mine,
      log: this.opts.log,
      unexpected: this.unexpected,
      // VERSIONS to NETINFO; the TLS handshake or HTTP upgrade before it had its own bound.
      timeoutMs: LINK_HANDSHAKE_TIMEOUT_MS,
      // Relays that extend to us prove who they are over TLS; WebSocket peers are clients.
      ...(raw instanceof TlsTransport ? { verifyAuthenticate: (auth: InitiatorAuthentication) => this.verifyInitiator(auth, raw, scert) } : {}),
    }).then((channel) => {
      this.channels.add(channel);
      channel.onClose(() => {
        this.channels.delete(channel);
        this.closedChannelBytes.value += channel.bytesIn + channel.bytesOut;
      });
      const address = canonicalAddress(peer.address);
      this.switch.attach(channel, { ...(address !== undefined ? { address } : {}), transport: kind });
    }, (e: unknown) => {
      this.opts.log.info(`link handshake with ${transport.description} failed: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private authenticatorFor(transport: TlsTransport): LinkAuthenticator {
    return initiatorAuthenticator(this.linkCerts, transport.tlsSocket);
  }

  /** Check a relay's AUTHENTICATE on a link it opened to us (tor-spec "Link authentication type 3"). */
  private verifyInitiator(auth: InitiatorAuthentication, transport: TlsTransport, scert: Uint8Array): VerifiedInitiatorIdentity {
    const initiator = verifyInitiatorCerts(auth.certs, new Date());
    const cid = authIdentityDigest(initiator.rsaKey.der);
    checkAuthenticate(auth.authenticate, {
      cid,
      sid: authIdentityDigest(this.keys.identity.publicDer),
      cidEd: initiator.ed25519Identity,
      sidEd: this.keys.ed25519Identity,
      slog: auth.slog,
      clog: auth.clog,
      scert,
      tlsSecrets: exportAuthTlsSecrets(transport.tlsSocket, cid),
    }, initiator.authKey);
    return initiator;
  }

  /** EXTEND2: only to relays the consensus lists, reached at the address it lists. */
  private async extend(specs: readonly LinkSpecifier[]): Promise<Channel> {
    const id = specs.find((s) => s.type === 'legacy-id');
    if (!id || id.type !== 'legacy-id') throw new TelescopeError('EXTEND2 without an RSA identity');
    const dir = this.directoryClient.netDir;
    if (!dir) throw new TelescopeError('no consensus yet: cannot check the next hop');
    const fp = fingerprintOf(id.rsaIdentity);
    const ed = specs.find((s) => s.type === 'ed25519-id');
    // tor (connection_or_connect): a relay asked to connect to itself refuses, by either identity.
    if (fp === this.keys.fingerprint || (ed?.type === 'ed25519-id' && equalBytes(ed.ed25519Identity, this.keys.ed25519Identity))) {
      throw new TelescopeError('EXTEND2 to this relay itself');
    }
    const relay = dir.relays.find((r) => r.fingerprint === fp);
    if (!relay) throw new TelescopeError(`EXTEND2 to ${fp}, which the consensus does not list`);
    if (ed && ed.type === 'ed25519-id' && relay.ed25519Identity && toBase64(ed.ed25519Identity) !== toBase64(relay.ed25519Identity)) {
      throw new TelescopeError(`EXTEND2 to ${fp} with an Ed25519 identity the consensus does not give it`);
    }
    const target = relayTarget(relay);
    const address = formatIp(relay.ipv4.address);
    // tor's connect-failure cache: a relay we failed to reach in the last minute is not redialled.
    if (!this.extendFailures.shouldConnect(fp, address, relay.ipv4.port)) {
      throw new TelescopeError(`EXTEND2 to ${fp}: connecting to it failed less than a minute ago`);
    }
    try {
      return await this.directoryClient.pool.get(target);
    } catch (e) {
      this.extendFailures.noteFailure(fp, address, relay.ipv4.port);
      throw e;
    }
  }

  /**
   * The consensus' relays as sets, for the checks every BEGIN makes: identities (is the previous
   * hop a known relay?) and ORPort address:port pairs (tor's network re-entry check). Rebuilt
   * when a new consensus arrives.
   */
  private knownRelays(): { fingerprints: ReadonlySet<string>; orPorts: ReadonlySet<string> } {
    const dir = this.directoryClient.netDir;
    if (!dir) return { fingerprints: new Set(), orPorts: new Set() };
    if (this.knownRelaySets?.dir !== dir) {
      const orPorts = new Set<string>();
      for (const r of dir.relays) {
        orPorts.add(`${formatIp(r.ipv4.address)}:${r.ipv4.port}`);
        if (r.ipv6) orPorts.add(`${formatIp(r.ipv6.address)}:${r.ipv6.port}`);
      }
      this.knownRelaySets = { dir, fingerprints: new Set(dir.relays.map((r) => r.fingerprint)), orPorts };
    }
    return this.knownRelaySets;
  }
  private knownRelaySets: { dir: object; fingerprints: ReadonlySet<string>; orPorts: ReadonlySet<string> } | undefined;

  /** The status line of the heartbeat and of shutdown; it carries the unexpected-error count. */
  statusLine(): string {
    return `Heartbeat: ${this.switch.openCircuits} circuits open, ${this.channels.size} connections, ${this.exitLimits.sockets} exit sockets, ${this.exitLimits.lookups} DNS lookups in flight; ${this.refusedConnections} connections refused, ${this.dosSummary()}; ${this.switch.stats.expiredCircuits} idle circuits and ${this.switch.stats.idleChannelsClosed} idle connections closed; ${Math.round(this.queueMemory.total / 1024)} KiB of cells queued, ${this.queueMemory.circuitsKilled} circuits closed by MaxMemInQueues in ${this.queueMemory.oomRuns} runs; ${this.unexpected.summary()}`;
  }

  /** What the DoS defences did since start: counts only, never an address (tor's DoS heartbeat). */
  private dosSummary(): string {
    const sw = this.switch.stats;
    const dos = this.dos.stats;
    return `${sw.refusedDos + sw.refusedRate + sw.refusedFull + sw.refusedProtocol} CREATE cells refused (${sw.refusedDos} by the DoS defences, ${sw.refusedRate} over CreateRateLimit, ${sw.refusedFull} with the circuit table full, ${sw.refusedProtocol} bad handshakes), ${dos.markedAddresses} addresses marked for creating circuits and ${dos.markedConnectionsRefused} of their connections refused, ${sw.linksClosedForProtocol} links closed for breaking the link protocol and ${sw.linksClosedForFlooding} for creating past their refusals`;
  }

  /**
   * Under attack the heartbeat (6 hours by default) says too little too late: when the defences
   * refused something, a notice at most once a minute gives the counts since start (no address).
   */
  private logDosActivity(): void {
    const sw = this.switch.stats;
    const activity = this.refusedConnections + sw.refusedDos + sw.refusedRate + sw.refusedFull + sw.refusedProtocol + sw.linksClosedForProtocol + sw.linksClosedForFlooding;
    const now = Date.now();
    if (activity === this.dosActivity.logged || now - this.dosActivity.at < DOS_NOTICE_INTERVAL_MS) return;
    this.dosActivity = { logged: activity, at: now };
    this.opts.log.notice(`DoS defences since start: ${this.refusedConnections} connections refused, ${this.dosSummary()}`);
  }
  private dosActivity = { logged: 0, at: 0 };

  private async openExit(begin: Begin, signal: AbortSignal): Promise<ExitOutcome> {
    const { config, log } = this.opts;
    const result = await openExitStream(begin, {
      policy: config.exitPolicy,
      isExit: config.isExit,
      limits: this.exitLimits,
      signal,
      log,
      // tor refuses connections back into the network: ORPorts of the relays in its consensus.
      // And our own listeners: a bridge is in no consensus, and with ExitPolicyRejectPrivate 0 its
      // own addresses are not rejected by the policy either.
      isRelayAddress: (address, port) => this.knownRelays().orPorts.has(`${address}:${port}`) || this.isOwnListener(address, port),
      bindAddress: { ...(config.outboundBindAddress.ipv4 ? { ipv4: config.outboundBindAddress.ipv4 } : {}), ...(config.outboundBindAddress.ipv6 ? { ipv6: config.outboundBindAddress.ipv6 } : {}) },
    });
    if (!result.ok) return result;
    return { ok: true, connected: result.connected, attach: (stream) => pipeStream(result.socket, stream, new Uint8Array(0), log, { endReasonFor: endReasonForError }) };
  }

  /**
   * circ_max_cell_queue_size (towards the client) and circ_max_cell_queue_size_out (towards the
   * exit, default the former) from the consensus, clamped as tor does (at least 50); 1250 without.
   * Worked out once per consensus: it is read for every queued cell.
   */
  private cellQueueLimits(): CircuitCellQueueLimits {
    const params = this.directoryClient.directory.current?.params;
    if (this.queueLimits && this.queueLimits.params === params) return this.queueLimits.limits;
    const param = (name: string, fallback: number) => Math.min(2 ** 31 - 1, Math.max(50, params?.get(name) ?? fallback));
    const inbound = param('circ_max_cell_queue_size', DEFAULT_CIRCUIT_CELL_QUEUE_LIMIT);
    this.queueLimits = { params, limits: { inbound, outbound: param('circ_max_cell_queue_size_out', inbound) } };
    return this.queueLimits.limits;
  }

  private sampleTraffic(): void {
    const total = this.closedChannelBytes.value + [...this.channels].reduce((n, c) => n + c.bytesIn + c.bytesOut, 0);
    const now = Date.now();
    // Bytes in plus out count traffic twice: a relay forwards what it receives.
    const rate = (total - this.lastTraffic.bytes) / 2 / ((now - this.lastTraffic.at) / 1000);
    if (rate > this.observedBandwidth) this.observedBandwidth = Math.floor(rate);
    this.lastTraffic = { at: now, bytes: total };
  }

  /** The relay's signed server descriptor, remade when keys change and at least every hour. */
  descriptor(): { text: string } {
    const now = Date.now();
    const c = this.cachedDescriptor;
    if (c && now - c.madeAt < 3600_000 && c.onionKey === this.keys.ntorKey.public) return c;
    const { config } = this.opts;
    const d = buildServerDescriptor(this.keys, {
      nickname: config.nickname,
      address: this.advertisedAddress,
      orPort: this.ports.orPort ?? 0,
      published: new Date(Math.floor(now / 1000) * 1000),
      uptimeSeconds: Math.floor((now - this.startedAt) / 1000),
      bandwidth: { average: config.bandwidthRate, burst: config.bandwidthBurst, observed: this.observedBandwidth },
      exitPolicy: config.exitPolicy,
      tunnelledDirServer: true,
      ...(config.contactInfo ? { contact: config.contactInfo } : {}),
    });
    this.cachedDescriptor = { text: d.text, madeAt: now, onionKey: this.keys.ntorKey.public };
    return this.cachedDescriptor;
  }

  /**
   * Upload the descriptor to every v3 authority of the relay's network (dir-spec: POST /tor/ to
   * the DirPort): those its DirAuthority lines name, else the public network's.
   */
  async publish(): Promise<void> {
    const text = this.descriptor().text;
    const authorities = this.opts.config.network.authorities;
    const results = await Promise.allSettled(authorities.map((a) => postDescriptor(a.address, a.dirPort, text)));
    results.forEach((r, i) => {
      const a = authorities[i]!;
      if (r.status === 'fulfilled') this.opts.log.notice(`uploaded our descriptor to authority ${a.nickname}: ${r.value}`);
      else this.opts.log.warn(`uploading our descriptor to authority ${a.nickname} failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
    });
  }

  /** Rotate keys and link certificates on schedule. */
  private async maintain(): Promise<void> {
    const now = new Date();
    const result = await this.keys.maintain(now);
    if (result.onionKeyRotated) {
      this.opts.log.notice('rotated the ntor onion key (the previous one stays valid for its grace period)');
      if (this.opts.config.publishServerDescriptor && !this.opts.config.bridgeRelay) await this.publish();
    }
    if (now.getTime() > this.linkCerts.tls.created.getTime() + 24 * 3600 * 1000) {
      this.linkCerts = new LinkCertificates(this.keys, await makeTlsCredentialsAsync(this.keys.identity));
      this.orListener?.setCredentials(tlsServerOptions(this.linkCerts.tls));
      this.opts.log.info('rotated the TLS link certificate');
    }
  }

  async stop(): Promise<void> {
    if (this.housekeepingTimer) clearInterval(this.housekeepingTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    if (this.trafficTimer) clearInterval(this.trafficTimer);
    if (this.published) clearInterval(this.published);
    this.switch.closeAll();
    for (const c of [...this.channels]) c.close('closed: relay shutting down');
    await Promise.all(this.listeners.map((l) => l.close()));
    await this.directoryClient.close();
    this.limits.read.close();
    this.limits.write.close();
  }
}

/** How often idle circuits, channels and DoS entries are looked at. */
const HOUSEKEEPING_INTERVAL_MS = 10_000;
/** At most one notice about the DoS defences' refusals per this (when they refused anything). */
const DOS_NOTICE_INTERVAL_MS = 60_000;
/** The Tor link handshake (VERSIONS to NETINFO) must be done within this after the link is up. */
const LINK_HANDSHAKE_TIMEOUT_MS = 15_000;

/** A socket's remote address as the consensus writes it (no IPv4-mapped IPv6 form). */
function canonicalAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const ip = parseIp(address);
  return ip ? formatIp(unmapIpv4(ip)) : address;
}

/** An address of this host: loopback, or one of its interfaces'. */
function isLocalAddress(address: string): boolean {
  const ip = parseIp(address);
  if (ip && isLoopback(ip)) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address));
}

/** A PEM file named by WebSocketPort cert=/key=, with an error that says which and why. */
function readPem(path: string, what: 'cert' | 'key'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new TelescopeError(`WebSocketPort ${what}=${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
