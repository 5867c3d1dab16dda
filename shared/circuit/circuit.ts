import { equalBytes } from '../bytes/index.ts';
import { ChanCmd, Create2, Created2, CreateFast, CreatedFast, Destroy, DestroyReason, HandshakeType, Relay, decodeChanMsg, RelayCmd, packRelayCell, unpackRelayCell, Begin, BeginDir, Connected, Drop, End, EndReason, Extend2, Extended2, Resolve, Resolved, Sendme, Truncate, Truncated, decodeRelayMsg, type ChannelCell, type LinkSpecifier, type RelayMsg } from '../cells/index.ts';
import { NOTHING_NEGOTIATED, clientHandshake, ClientCircuitCrypto, type AesCtrFactory, type HopKeyMaterial, type HsV3HopKeys, type NegotiatedParameters, type ClientHandshake } from '../crypto/index.ts';
import { CircuitError, ProtocolError, StreamError, TelescopeError, TimeoutError, UsageError, silentLogger, type Logger } from '../util/index.ts';
import { TorStream, type StreamCarrier } from '../stream/index.ts';
import { congestionControlFor, type CircuitCongestionControl } from './congestion.ts';

export { CIRCUIT_WINDOW_START, CIRCUIT_WINDOW_INCREMENT } from './fixed-windows.ts';
import type { Channel, CircuitEndpoint } from '../channel/index.ts';

/**
 * A client circuit (tor-spec "Circuit management"): built one hop at a time, CREATE2 to the first
 * hop and EXTEND2 (in RELAY_EARLY) through it to each next one, so each hop learns only its
 * neighbours. The handshakes come from the registry (crypto/client-handshakes.ts: ntor today); what
 * each one yields makes the hop's relay-cell crypto and its congestion control (congestion.ts:
 * fixed windows with authenticated SENDMEs, prop 289, today). It carries many streams, any of
 * which may exit at any hop (leaky pipe), and tears itself down on any cell it cannot authenticate.
 */

/** What the client needs to know about a relay to extend to it. */
export interface RelayTarget {
  readonly nickname?: string;
  /** 20-byte RSA identity digest. */
  readonly rsaIdentity: Uint8Array;
  readonly ed25519Identity?: Uint8Array;
  /** 32-byte Curve25519 ntor onion key. */
  readonly ntorOnionKey: Uint8Array;
  readonly ipv4?: { readonly address: Uint8Array; readonly port: number };
  readonly ipv6?: { readonly address: Uint8Array; readonly port: number };
}

/** tor-spec: a client may send at most 8 RELAY_EARLY cells per circuit. */
const MAX_RELAY_EARLY = 8;

export interface CircuitOptions {
  readonly aes?: AesCtrFactory;
  readonly log?: Logger;
  /** How long to wait for CREATED2 / EXTENDED2 / TRUNCATED. */
  readonly hopTimeoutMs?: number;
}

interface HopState {
  readonly target: RelayTarget;
  readonly congestion: CircuitCongestionControl;
  /** KH, which ESTABLISH_INTRO's MAC is keyed with; empty for a hop whose handshake has none. */
  readonly nonce: Uint8Array;
  readonly negotiated: NegotiatedParameters;
}

type Pending =
  | { kind: 'created'; resolve: (hdata: Uint8Array) => void; reject: (e: TelescopeError) => void }
  | { kind: 'extended'; resolve: (hdata: Uint8Array) => void; reject: (e: TelescopeError) => void }
  | { kind: 'truncated'; resolve: (reason: number) => void; reject: (e: TelescopeError) => void };

/**
 * The handshake a circuit uses to reach `target` (CREATE2 or EXTEND2).
 * ntor-v3 (Relay=4) plugs in here: its type for relays that list it, so congestion control can be negotiated.
 */
function handshakeFor(_target: RelayTarget): ClientHandshake {
  return clientHandshake(HandshakeType.NTOR);
}

/** The link specifiers EXTEND2 names a relay by (tor-spec: IPv4, RSA id, Ed25519 id, IPv6). */
export function linkSpecifiersFor(t: RelayTarget): LinkSpecifier[] {
  const specs: LinkSpecifier[] = [];
  if (t.ipv4) specs.push({ type: 'ipv4', address: t.ipv4.address, port: t.ipv4.port });
  specs.push({ type: 'legacy-id', rsaIdentity: t.rsaIdentity });
  if (t.ed25519Identity) specs.push({ type: 'ed25519-id', ed25519Identity: t.ed25519Identity });
  if (t.ipv6) specs.push({ type: 'ipv6', address: t.ipv6.address, port: t.ipv6.port });
  return specs;
}

export class Circuit implements CircuitEndpoint, StreamCarrier {
  readonly circId: number;
  private readonly crypto: ClientCircuitCrypto;
  private readonly hopStates: HopState[] = [];
  private readonly streams = new Map<number, TorStream>();
  private nextStreamId = 1;
  private pending: Pending | undefined;
  private relayEarlySent = 0;
  private closedWith: CircuitError | undefined;
  private readonly closeListeners: ((e: CircuitError) => void)[] = [];
  private readonly log: Logger;
  private readonly hopTimeoutMs: number;
  /** Listener for circuit-level messages this class does not consume (onion-service cells). */
  onControlMessage: ((hop: number, msg: RelayMsg) => void) | undefined;
  /**
   * An onion service's rendezvous circuit takes streams the client opens (BEGIN from the virtual
   * hop): `hop` is the only hop allowed to open them, `accept` decides (acceptStream or close).
   * Unset on every other circuit, where a BEGIN travelling towards us is a protocol violation.
   */
  incomingStreams: { readonly hop: number; readonly accept: (stream: TorStream, begin: Begin) => void } | undefined;
  /** Streams opened over the circuit's life; the manager uses it to age circuits. */
  streamsOpened = 0;
  readonly createdAt = Date.now();
  /** When the first stream was attached (circuits are retired some time after first use). */
  firstUsedAt: number | undefined;

  private constructor(readonly channel: Channel, opts: CircuitOptions) {
    this.crypto = new ClientCircuitCrypto(opts.aes);
    this.log = opts.log ?? silentLogger;
    this.hopTimeoutMs = opts.hopTimeoutMs ?? 30_000;
    this.circId = channel.registerCircuit(this);
  }

  /** Create a one-hop circuit to the relay at the other end of `channel` (CREATE2). */
  static async create(channel: Channel, first: RelayTarget, opts: CircuitOptions = {}): Promise<Circuit> {
    if (!equalBytes(channel.peerIdentity.rsaIdentity, first.rsaIdentity)) {
      throw new UsageError('first hop does not match the relay at the other end of the channel');
    }
    return Circuit.createWith(channel, first, handshakeFor(first), opts);
  }

  /**
   * A one-hop circuit with CREATE_FAST: no onion key needed, which is the point when the key is
   * not known yet (a bridge given only by address and fingerprint: its descriptor, with the ntor
   * key, is fetched over such a circuit). The link's CERTS check already authenticated the relay.
   * Never used for circuits that carry user traffic.
   */
  static async createFast(channel: Channel, opts: CircuitOptions = {}): Promise<Circuit> {
    const identity = channel.peerIdentity;
    const first: RelayTarget = { nickname: 'create-fast', rsaIdentity: identity.rsaIdentity, ed25519Identity: identity.ed25519Identity, ntorOnionKey: new Uint8Array(32) };
    return Circuit.createWith(channel, first, clientHandshake(HandshakeType.FAST), opts);
  }

  /** The first hop: the handshake's onionskin in its cell (CREATE2, or CREATE_FAST), its reply, the hop's keys. */
  private static async createWith(channel: Channel, first: RelayTarget, handshake: ClientHandshake, opts: CircuitOptions): Promise<Circuit> {
    const circ = new Circuit(channel, opts);
    const hs = handshake.start(first);
    const fast = handshake.carrier === 'create-fast';
    const reply = circ.await<Uint8Array>('created', fast ? 'CREATED_FAST' : 'CREATED2');
    const body = fast ? new CreateFast(hs.onionskin).encode() : new Create2(hs.handshakeType, hs.onionskin).encode();
    channel.send({ circId: circ.circId, command: fast ? ChanCmd.CREATE_FAST : ChanCmd.CREATE2, body });
    try {
      circ.addHop(first, hs.finish(await reply));
    } catch (e) {
      circ.destroy(DestroyReason.PROTOCOL);
      throw e;
    }
    return circ;
  }

  /** KH of hop `hop` (0-based): the key of ESTABLISH_INTRO's HANDSHAKE_AUTH at that hop. */
  hopNonce(hop: number): Uint8Array {
    const state = this.hopStates[hop];
    if (!state) throw new UsageError(`circuit ${this.id} has no hop ${hop}`);
    return state.nonce;
  }

  get hops(): readonly RelayTarget[] {
    return this.hopStates.map((h) => h.target);
  }

  get length(): number {
    return this.hopStates.length;
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Extend the circuit by one hop with EXTEND2, sent in RELAY_EARLY to the current last hop. */
  async extend(target: RelayTarget): Promise<void> {
    this.checkOpen();
    if (this.relayEarlySent >= MAX_RELAY_EARLY) throw new CircuitError(`circuit ${this.id}: no RELAY_EARLY cells left to extend with`);
    const handshake = handshakeFor(target);
    if (handshake.carrier !== 'create2') throw new UsageError(`${handshake.name} cannot extend a circuit`);
    const hs = handshake.start(target);
    const reply = this.await<Uint8Array>('extended', 'EXTENDED2');
    this.relayEarlySent++;
    this.sendRelay(this.length - 1, 0, new Extend2(linkSpecifiersFor(target), hs.handshakeType, hs.onionskin), true);
    let keys: HopKeyMaterial;
    try {
      keys = hs.finish(await reply);
    } catch (e) {
      if (this.isOpen) this.destroy(DestroyReason.PROTOCOL);
      throw e;
    }
    this.addHop(target, keys);
  }

  /**
   * Join an onion service's end of the circuit as a virtual hop (rend-spec-v3 "Joining to a
   * rendezvous point"): no EXTEND, the rendezvous point splices our circuit to the service's and
   * hs-ntor gave the keys. `keys` are as the side that adds the hop sees them (a service passes
   * them reversed). Cells for that hop pass through every relay layer first.
   */
  addVirtualHop(keys: HsV3HopKeys, name = 'onion-service'): void {
    this.checkOpen();
    const target: RelayTarget = { nickname: name, rsaIdentity: new Uint8Array(20), ntorOnionKey: new Uint8Array(32) };
    this.addHop(target, { keys, negotiated: NOTHING_NEGOTIATED });
  }

  /** Drop every hop after the first `hops` (TRUNCATE to hop `hops`, then TRUNCATED). */
  async truncate(hops: number): Promise<number> {
    this.checkOpen();
    if (hops < 1 || hops >= this.length) throw new UsageError(`cannot truncate a ${this.length}-hop circuit to ${hops}`);
    const done = this.await<number>('truncated', 'TRUNCATED');
    this.sendRelay(hops - 1, 0, new Truncate());
    const reason = await done;
    return reason;
  }

  /** Open a stream to host:port, exiting at `hop` (the last hop by default). Never resolves locally. */
  async openStream(host: string, port: number, opts: { hop?: number; flags?: number; timeoutMs?: number } = {}): Promise<TorStream> {
    const hop = opts.hop ?? this.length - 1;
    return this.beginStream(hop, `${host}:${port}`, new Begin(host, port, opts.flags ?? 0), opts.timeoutMs);
  }

  /** Open a directory stream (BEGIN_DIR) to `hop` (the first hop by default). */
  async openDirStream(opts: { hop?: number; timeoutMs?: number } = {}): Promise<TorStream> {
    return this.beginStream(opts.hop ?? 0, 'directory', new BeginDir(), opts.timeoutMs);
  }

  /** Ask the exit to resolve a hostname (RESOLVE / RESOLVED). */
  async resolve(hostname: string, opts: { hop?: number; timeoutMs?: number } = {}): Promise<Resolved> {
    const hop = opts.hop ?? this.length - 1;
    const { stream, answer } = this.allocStream(hop, `resolve ${hostname}`);
    this.sendRelay(hop, stream.streamId, new Resolve(hostname));
    const msg = await this.withTimeout(answer, opts.timeoutMs ?? 30_000, `RESOLVE ${hostname}`);
    this.streams.delete(stream.streamId);
    if (msg instanceof Resolved) return msg;
    throw new StreamError(`RESOLVE ${hostname} refused: ${EndReason.nameOf((msg as End).reason)}`, (msg as End).reason);
  }

  /** Long-range padding to `hop`: the hop drops it (RELAY_DROP). */
  sendDrop(hop: number, length = 0): void {
    this.sendRelay(hop, 0, new Drop(new Uint8Array(length)));
  }

  /** Send a circuit-level relay message (stream 0) to `hop`, e.g. onion-service cells. */
  sendControl(hop: number, msg: RelayMsg): void {
    this.sendRelay(hop, 0, msg);
  }

  /** Tear the circuit down (DESTROY to the first hop); streams on it fail. */
  destroy(reason: number = DestroyReason.FINISHED, why?: string): void {
    if (this.closedWith) return;
    if (this.channel.isOpen) {
      try {
        this.channel.send({ circId: this.circId, command: ChanCmd.DESTROY, body: new Destroy(reason).encode() });
      } catch {
        // The channel closed between the check and the send: nothing left to tell.
      }
    }
    this.closed(new CircuitError(`circuit ${this.id} destroyed by us: ${why ?? DestroyReason.nameOf(reason)}`, reason));
  }

  onClose(listener: (e: CircuitError) => void): void {
    if (this.closedWith) listener(this.closedWith);
    else this.closeListeners.push(listener);
  }

  /** Short id for logs: the circuit id in hex. */
  get id(): string {
    return this.circId.toString(16);
  }

  // ---- CircuitEndpoint: cells from the channel ----

  onCell(cell: ChannelCell): void {
    if (this.closedWith) return;
    try {
      const msg = decodeChanMsg(cell.command, cell.body);
      if (msg instanceof Destroy) {
        this.channel.releaseCircuit(this.circId);
        this.closed(new CircuitError(`circuit ${this.id} destroyed by the network: ${DestroyReason.nameOf(msg.reason)}`, msg.reason));
        return;
      }
      if (msg instanceof Created2 || msg instanceof CreatedFast) {
        if (this.pending?.kind !== 'created') throw new ProtocolError(`circuit ${this.id}`, `unexpected ${ChanCmd.nameOf(cell.command)}`);
        const p = this.pending;
        this.pending = undefined;
        // The handshake's reply: CREATED2's handshake data, or CREATED_FAST's Y | KH.
        p.resolve(msg instanceof Created2 ? msg.handshakeData : msg.encode());
        return;
      }
      if (msg instanceof Relay) {
        // Relays never send RELAY_EARLY towards the client.
        if (msg.early) throw new ProtocolError(`circuit ${this.id}`, 'RELAY_EARLY cell travelling inbound');
        this.receiveRelay(msg.body.slice());
        return;
      }
      throw new ProtocolError(`circuit ${this.id}`, `unexpected ${ChanCmd.nameOf(cell.command)} cell`);
    } catch (e) {
      if (!(e instanceof TelescopeError)) throw e;
      this.log.warn(`circuit ${this.id}: ${e.message}; destroying it`);
      this.destroy(DestroyReason.PROTOCOL, e.message);
    }
  }

  onChannelClosed(error: TelescopeError): void {
    this.closed(new CircuitError(`circuit ${this.id} lost its channel: ${error.message}`, DestroyReason.CHANNEL_CLOSED, { cause: error }));
  }

  // ---- StreamCarrier ----

  sendOnStream(hop: number, streamId: number, msg: RelayMsg): void {
    if (this.closedWith) return;
    this.sendRelay(hop, streamId, msg);
  }

  circuitWindowOpen(hop: number): Promise<void> {
    const state = this.hopStates[hop];
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (!state) return Promise.reject(new UsageError(`no hop ${hop}`));
    return state.congestion.whenCanSend();
  }

  streamClosed(streamId: number): void {
    this.streams.delete(streamId);
  }

  protocolViolation(error: ProtocolError): void {
    this.log.warn(`circuit ${this.id}: ${error.message}; destroying it`);
    this.destroy(DestroyReason.PROTOCOL, error.message);
  }

  negotiated(hop: number): NegotiatedParameters {
    return this.hopStates[hop]?.negotiated ?? NOTHING_NEGOTIATED;
  }

  // ---- internals ----

  /** A hop whose handshake completed: its keys' kind picks its relay-cell crypto, what it negotiated its congestion control. */
  private addHop(target: RelayTarget, material: HopKeyMaterial): void {
    this.crypto.addHop(material.keys);
    const congestion = congestionControlFor(material.negotiated, `circuit ${this.id} hop ${this.hopStates.length + 1}`);
    this.hopStates.push({ target, congestion, nonce: material.kh ?? new Uint8Array(0), negotiated: material.negotiated });
  }

  private checkOpen(): void {
    if (this.closedWith) throw this.closedWith;
    if (this.pending) throw new UsageError(`circuit ${this.id} is busy with ${this.pending.kind}`);
  }

  private await<T>(kind: Pending['kind'], what: string): Promise<T> {
    return this.withTimeout(new Promise<T>((resolve, reject) => {
      this.pending = { kind, resolve: resolve as (v: never) => void, reject } as Pending;
    }), this.hopTimeoutMs, what);
  }

  /** A circuit-level answer in time, or the circuit goes (TIMEOUT). */
  private withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return deadline(p, ms, () => {
      this.destroy(DestroyReason.TIMEOUT, `${what} timed out`);
      return new TimeoutError(`circuit ${this.id}: no answer to ${what} in ${ms} ms`);
    });
  }

  private sendRelay(hop: number, streamId: number, msg: RelayMsg, early = false): void {
    if (this.closedWith) throw this.closedWith;
    const state = this.hopStates[hop];
    if (!state) throw new UsageError(`circuit ${this.id} has no hop ${hop}`);
    const body = packRelayCell({ command: msg.command, streamId, data: msg.encode() });
    const isData = msg.command === RelayCmd.DATA;
    const digest = isData ? new Uint8Array(20) : undefined;
    this.crypto.encryptOutbound(body, hop, digest);
    if (isData) state.congestion.dataSent(digest!);
    this.channel.send({ circId: this.circId, command: early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY, body: new Relay(body, early).encode() });
  }

  private receiveRelay(body: Uint8Array): void {
    const digest = new Uint8Array(20);
    const hop = this.crypto.decryptInbound(body, digest); // throws RelayCryptoError: tear down
    const { command, streamId, data } = unpackRelayCell(body);
    const msg = decodeRelayMsg(command, data);
    const state = this.hopStates[hop]!;
    if (command === RelayCmd.DATA) {
      // Authenticated SENDME: echo the digest congestion control names (the cell that made it due).
      const ack = state.congestion.dataReceived(digest);
      if (ack) this.sendRelay(hop, 0, Sendme.v1(ack));
    }
    if (streamId === 0) {
      this.receiveControl(hop, msg);
      return;
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (msg instanceof Begin) this.incomingBegin(hop, streamId, msg);
      return; // otherwise: late cells for a stream we closed
    }
    if (stream.hop !== hop) throw new ProtocolError(`circuit ${this.id}`, `cell for stream ${streamId} came from hop ${hop + 1}, not its hop ${stream.hop + 1}`);
    const opener = this.openers.get(streamId);
    if (opener) {
      this.openers.delete(streamId);
      opener.resolve(msg);
      return;
    }
    stream.deliver(msg);
  }

  private receiveControl(hop: number, msg: RelayMsg): void {
    switch (msg.command) {
      case RelayCmd.SENDME: {
        const sendme = msg as Sendme;
        this.hopStates[hop]!.congestion.sendmeReceived(sendme.version, sendme.digest);
        return;
      }
      case RelayCmd.EXTENDED2: {
        if (this.pending?.kind !== 'extended' || hop !== this.length - 1) throw new ProtocolError(`circuit ${this.id}`, `unexpected EXTENDED2 from hop ${hop + 1}`);
        const p = this.pending;
        this.pending = undefined;
        p.resolve((msg as Extended2).handshakeData);
        return;
      }
      case RelayCmd.TRUNCATED: {
        // Everything after `hop` is gone, whether we asked for it or a relay further out failed.
        const reason = (msg as Truncated).reason;
        this.dropHopsAfter(hop, new CircuitError(`circuit ${this.id} truncated at hop ${hop + 1}: ${DestroyReason.nameOf(reason)}`, reason));
        if (this.pending?.kind === 'truncated') {
          const p = this.pending;
          this.pending = undefined;
          p.resolve(reason);
        } else if (this.pending?.kind === 'extended') {
          const p = this.pending;
          this.pending = undefined;
          p.reject(new CircuitError(`circuit ${this.id}: extend failed at hop ${hop + 1}: ${DestroyReason.nameOf(reason)}`, reason));
        }
        return;
      }
      case RelayCmd.DROP:
        return;
      default:
        if (this.onControlMessage) this.onControlMessage(hop, msg);
        else this.log.debug(`circuit ${this.id}: ignoring ${RelayCmd.nameOf(msg.command)} from hop ${hop + 1}`);
    }
  }

  private dropHopsAfter(hop: number, error: CircuitError): void {
    this.crypto.truncateTo(hop + 1);
    const gone = this.hopStates.splice(hop + 1);
    for (const h of gone) h.congestion.close();
    for (const [id, s] of [...this.streams]) {
      if (s.hop <= hop) continue;
      this.streams.delete(id);
      s.fail(error);
      const opener = this.openers.get(id);
      this.openers.delete(id);
      opener?.reject(new StreamError(`stream could not open: ${error.message}`, EndReason.DESTROY, { cause: error }));
    }
  }

  /** Streams waiting for CONNECTED / END / RESOLVED. */
  private readonly openers = new Map<number, { resolve: (msg: RelayMsg) => void; reject: (e: TelescopeError) => void }>();

  private allocStream(hop: number, target: string): { stream: TorStream; answer: Promise<RelayMsg> } {
    this.checkOpenForStreams();
    if (!this.hopStates[hop]) throw new UsageError(`circuit ${this.id} has no hop ${hop}`);
    let id = 0;
    for (let i = 0; i < 0xffff; i++) {
      const candidate = this.nextStreamId;
      this.nextStreamId = this.nextStreamId >= 0xffff ? 1 : this.nextStreamId + 1;
      if (!this.streams.has(candidate)) { id = candidate; break; }
    }
    if (id === 0) throw new CircuitError(`circuit ${this.id} has no free stream ids`);
    const stream = new TorStream(this, hop, id, target);
    this.streams.set(id, stream);
    const answer = new Promise<RelayMsg>((resolve, reject) => this.openers.set(id, { resolve, reject }));
    this.streamsOpened++;
    this.firstUsedAt ??= Date.now();
    return { stream, answer };
  }

  private incomingBegin(hop: number, streamId: number, begin: Begin): void {
    const incoming = this.incomingStreams;
    if (!incoming || hop !== incoming.hop) throw new ProtocolError(`circuit ${this.id}`, `BEGIN from hop ${hop + 1}: this circuit takes no streams from the network`);
    const stream = new TorStream(this, hop, streamId, begin.addrPort, true);
    this.streams.set(streamId, stream);
    this.streamsOpened++;
    this.firstUsedAt ??= Date.now();
    incoming.accept(stream, begin);
  }

  /** Tell the stream's opener it is connected (the far end of an incoming stream is reachable). */
  acceptStream(stream: TorStream): void {
    if (this.streams.get(stream.streamId) !== stream) throw new UsageError(`stream ${stream.streamId} is not open on circuit ${this.id}`);
    this.sendRelay(stream.hop, stream.streamId, new Connected());
  }

  private checkOpenForStreams(): void {
    if (this.closedWith) throw this.closedWith;
  }

  private async beginStream(hop: number, target: string, begin: Begin | BeginDir, timeoutMs = 60_000): Promise<TorStream> {
    const { stream, answer } = this.allocStream(hop, target);
    this.sendRelay(hop, stream.streamId, begin);
    let msg: RelayMsg;
    try {
      // A stream that is not answered in time is closed, not its circuit.
      msg = await deadline(answer, timeoutMs, () => {
        stream.close(EndReason.TIMEOUT);
        return new TimeoutError(`stream to ${target}: no CONNECTED in ${timeoutMs} ms`);
      });
    } catch (e) {
      this.openers.delete(stream.streamId);
      throw e;
    }
    if (msg instanceof Connected) return stream;
    if (msg instanceof End) {
      this.streams.delete(stream.streamId);
      throw new StreamError(`stream to ${target} refused by hop ${hop + 1}: ${EndReason.nameOf(msg.reason)}`, msg.reason);
    }
    stream.close(EndReason.TORPROTOCOL);
    throw new StreamError(`stream to ${target}: expected CONNECTED, got ${RelayCmd.nameOf(msg.command)}`);
  }

  private closed(error: CircuitError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.channel.releaseCircuit(this.circId);
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      p.reject(error);
    }
    for (const s of [...this.streams.values()]) s.fail(error);
    this.streams.clear();
    const openers = [...this.openers.values()];
    this.openers.clear();
    for (const o of openers) o.reject(new StreamError(`stream could not open: ${error.message}`, EndReason.DESTROY, { cause: error }));
    for (const h of this.hopStates) h.congestion.close();
    for (const l of this.closeListeners.splice(0)) l(error);
  }
}

/** `p`, or the error `onTimeout` returns (after doing what it must) once `ms` have passed. */
function deadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}
