import { ChanCmd, Create2, Created2, Destroy, DestroyReason, Relay, decodeChanMsg, RelayCmd, packRelayCell, unpackRelayCell, Begin, BeginDir, Connected, End, EndReason, Extend2, Extended2, Resolve, Resolved, Sendme, Truncated, decodeRelayMsg, type ChannelCell, type RelayMsg, type LinkSpecifier } from '../cells/index.ts';
import { NOTHING_NEGOTIATED, type NegotiatedParameters, type RelayHopCrypto } from '../crypto/index.ts';
import { CircuitError, ProtocolError, StreamError, UnexpectedErrors, isExpectedError, type Logger } from '../util/index.ts';
import type { Channel, CircuitEndpoint, CircuitQueue } from '../channel/index.ts';
import type { CellQueueMemory, QueueOwner } from './queue-memory.ts';
import { congestionControlFor, type CircuitCongestionControl } from '../circuit/index.ts';
import { TorStream, type StreamCarrier } from '../stream/index.ts';
import { equalBytes } from '../bytes/index.ts';

/**
 * One circuit as a relay sees it (tor-spec "Routing relay cells"): the hop shared with the client
 * (its relay-cell crypto and congestion control made from the CREATE's handshake), the previous hop (towards the client) and, once extended, the next one. Cells
 * from the client that this relay recognizes are handled here (EXTEND2, BEGIN, BEGIN_DIR, DATA,
 * SENDME, TRUNCATE, RESOLVE, DROP); the rest go on to the next hop. Cells from the next hop get
 * this relay's layer and go back. Anything that breaks the protocol costs the circuit, never the
 * relay: it is destroyed with a reason.
 */

/** The result of an exit's attempt to honour BEGIN. */
export type ExitOutcome =
  | { readonly ok: true; readonly connected: Connected; attach(stream: TorStream): void }
  | { readonly ok: false; readonly end: End };

/** What a relay circuit needs from its host. */
export interface RelayCircuitServices {
  readonly log: Logger;
  /** Open or reuse a channel to the relay EXTEND2 names; refuse (throw) relays not in the consensus. */
  extend(specs: readonly LinkSpecifier[]): Promise<Channel>;
  /**
   * BEGIN at this relay. Absent: this relay is not an exit. `signal` fires when the stream or the
   * circuit is gone before the answer: stop looking up and connecting then.
   */
  openExit?(begin: Begin, signal: AbortSignal): Promise<ExitOutcome>;
  /** Serve directory requests on a BEGIN_DIR stream. Absent: no directory service. */
  serveDirectory?(stream: TorStream): void;
  /** Answer RESOLVE (exits only): RESOLVED, or an END when refused. `signal` as for openExit. */
  resolve?(msg: Resolve, signal: AbortSignal): Promise<Resolved | End>;
  /**
   * Whether the relay with this RSA identity is in this relay's consensus. Streams that exit here
   * (BEGIN, RESOLVE) are served only when the previous hop is such a relay, as tor does
   * (connection_exit_begin_conn). Absent: no previous hop is known, so nothing exits.
   */
  isKnownRelay?(rsaIdentity: Uint8Array): boolean;
  /** Called once when the circuit is gone, for accounting. */
  closed(circuit: RelayCircuit): void;
  /**
   * How many cells a circuit may have waiting per direction (tor's consensus parameters
   * circ_max_cell_queue_size, towards the client, and circ_max_cell_queue_size_out, towards the
   * exit). Read for every queued cell: return a kept object. Default: DEFAULT_CIRCUIT_CELL_QUEUE_LIMITS.
   */
  cellQueueLimits?(): CircuitCellQueueLimits;
  /** MaxMemInQueues: where every circuit's queued cells are accounted (and the oldest killed). */
  readonly queueMemory?: CellQueueMemory;
  /**
   * Where errors that are no TelescopeError (bugs, unplanned cases) are counted and logged; the
   * circuit or stream they happened on is closed (DESTROY INTERNAL / END MISC), nothing else.
   * Default: a counter of this circuit's own.
   */
  readonly unexpected?: UnexpectedErrors;
}

/** Cells one circuit may have waiting to go out, towards the client and towards the exit. */
export interface CircuitCellQueueLimits {
  readonly inbound: number;
  readonly outbound: number;
}

/**
 * tor closes a circuit whose own cell queue reaches circ_max_cell_queue_size (relay.c,
 * append_cell_to_circuit_queue): the circuit that floods, not the link it floods. tor's built-in
 * default is 50000 and expects the consensus to set it; the live network sets 1250. Without
 * congestion control (which this relay does not negotiate) an honest circuit never has more than
 * its window of 1000 DATA cells plus a few others in flight, so 1250 is the default here too.
 */
export const DEFAULT_CIRCUIT_CELL_QUEUE_LIMIT = 1250;
export const DEFAULT_CIRCUIT_CELL_QUEUE_LIMITS: CircuitCellQueueLimits = { inbound: DEFAULT_CIRCUIT_CELL_QUEUE_LIMIT, outbound: DEFAULT_CIRCUIT_CELL_QUEUE_LIMIT };

/** tor-spec: at most 8 RELAY_EARLY cells per circuit from the client side. */
const MAX_RELAY_EARLY = 8;
const MAX_STREAMS_PER_CIRCUIT = 1024;

/**
 * Directory streams open at once on one circuit, and on all circuits of one channel (one client's
 * link). A BEGIN_DIR beyond either gets END RESOURCELIMIT, the reason tor gives a stream it
 * refuses under its stream-creation DoS defence; the client may ask again once one finishes.
 * Generous on purpose: a client bootstrapping from a live-sized consensus asks for ~106 batches
 * of microdescriptors at once. What a directory stream holds is bounded elsewhere (the documents
 * are shared, cached buffers; the circuit's window and queue bound the cells; a stalled stream is
 * closed by the directory server), so the caps only bound the number of stream objects.
 */
export const MAX_DIR_STREAMS_PER_CIRCUIT = 128;
export const MAX_DIR_STREAMS_PER_CHANNEL = 256;

/** Directory streams open per channel, over all its circuits. */
const dirStreamsOnChannel = new WeakMap<Channel, number>();

export class RelayCircuit implements CircuitEndpoint, StreamCarrier, QueueOwner {
  private next: { channel: Channel; circId: number; queue: CircuitQueue } | undefined;
  /** Cells waiting to go to the previous hop (towards the client). */
  private readonly toPrev: CircuitQueue;
  private extending = false;
  private relayEarlySeen = 0;
  private readonly congestion: CircuitCongestionControl;
  private readonly streams = new Map<number, TorStream>();
  /** Open BEGIN_DIR streams on this circuit. */
  private dirStreams = 0;
  private closed = false;
  private readonly unexpected: UnexpectedErrors;
  /** BEGINs waiting for the exit's answer, by stream id, and RESOLVEs waiting for theirs. */
  private readonly pendingExits = new Map<number, AbortController>();
  private readonly pendingResolves = new Set<AbortController>();

  constructor(
    private readonly prev: Channel,
    readonly circId: number,
    private readonly crypto: RelayHopCrypto,
    private readonly services: RelayCircuitServices,
    /** What the CREATE's handshake negotiated: it picks the circuit's congestion control. */
    private readonly negotiatedParameters: NegotiatedParameters = NOTHING_NEGOTIATED,
  ) {
    this.congestion = congestionControlFor(negotiatedParameters, `relay circuit ${circId.toString(16)}`);
    this.unexpected = services.unexpected ?? new UnexpectedErrors(services.log);
    this.toPrev = prev.circuitQueue(circId, services.queueMemory);
    services.queueMemory?.register(this);
  }

  /** When the oldest cell this circuit has queued (either way) was queued; undefined if none. */
  get oldestQueuedAt(): number | undefined {
    const a = this.toPrev.oldestQueuedAt;
    const b = this.next?.queue.oldestQueuedAt;
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /** Cells waiting to go out, towards the client and towards the exit. */
  get queuedCells(): { inbound: number; outbound: number } {
    return { inbound: this.toPrev.length, outbound: this.next?.queue.length ?? 0 };
  }

  flushQueues(): void {
    this.toPrev.flush();
    this.next?.queue.flush();
  }

  /** The MaxMemInQueues handler picked this circuit: its cells are the oldest. */
  killForMemory(): void {
    this.services.log.info(`relay circuit ${this.id}: destroyed to free memory (its queued cells were the oldest)`);
    this.destroy(DestroyReason.RESOURCELIMIT);
  }

  get id(): string {
    return this.circId.toString(16);
  }

  /**
   * The RSA identity the previous hop proved: it authenticated on a link it opened to us, or we
   * opened the link to it. Undefined for a client (no AUTHENTICATE; every WebSocket peer).
   */
  private get prevRelayIdentity(): Uint8Array | undefined {
    const link = this.prev.link;
    return 'initiator' in link ? link.initiator?.rsaIdentity : link.identity.rsaIdentity;
  }

  /** Which identity of the previous hop `specs` name ('RSA' or 'Ed25519'), if any. */
  private namesPreviousHop(specs: readonly LinkSpecifier[]): string | undefined {
    const link = this.prev.link;
    const prev = 'initiator' in link ? link.initiator : link.identity;
    if (!prev) return undefined; // a client has no identity to name
    for (const s of specs) {
      if (s.type === 'legacy-id' && equalBytes(s.rsaIdentity, prev.rsaIdentity)) return 'RSA';
      if (s.type === 'ed25519-id' && equalBytes(s.ed25519Identity, prev.ed25519Identity)) return 'Ed25519';
    }
    return undefined;
  }

  /**
   * Why a stream may not exit here, as tor decides in connection_exit_begin_conn: a client on the
   * first hop of its circuit gets END TORPROTOCOL (a one-hop exit would make the relay a plain
   * proxy that sees both ends), a previous hop that proved a relay identity the consensus does not
   * list gets END MISC (tor's refuseunknownexits, on by default: throwaway relay keys buy no
   * one-hop exit). tor applies this to BEGIN only and answers a client's RESOLVE; here RESOLVE is
   * refused the same way, or the first hop would be a DNS oracle into the operator's network.
   * BEGIN_DIR stays allowed. Undefined: allowed.
   */
  private exitRefusal(): { reason: number; why: string } | undefined {
    const peer = this.prevRelayIdentity;
    if (!peer) return { reason: EndReason.TORPROTOCOL, why: 'on the first hop of a client\'s circuit' };
    if (this.services.isKnownRelay?.(peer) !== true) return { reason: EndReason.MISC, why: 'from a relay the consensus does not list' };
    return undefined;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get isExtended(): boolean {
    return this.next !== undefined;
  }

  /** Streams open at this hop (exit, directory); an idle circuit without any may be expired. */
  get streamCount(): number {
    return this.streams.size;
  }

  // ---- cells from the previous hop (towards the client) ----

  onCell(cell: ChannelCell): void {
    if (this.closed) return;
    try {
      const msg = decodeChanMsg(cell.command, cell.body);
      if (msg instanceof Destroy) {
        this.prev.releaseCircuit(this.circId);
        this.teardown(msg.reason, 'previous hop destroyed it');
        return;
      }
      if (!(msg instanceof Relay)) throw new ProtocolError(`relay circuit ${this.id}`, `unexpected ${ChanCmd.nameOf(cell.command)} from the previous hop`);
      if (msg.early && ++this.relayEarlySeen > MAX_RELAY_EARLY) throw new ProtocolError(`relay circuit ${this.id}`, `more than ${MAX_RELAY_EARLY} RELAY_EARLY cells`);
      const body = msg.body.slice();
      const digest = new Uint8Array(20);
      if (this.crypto.decryptOutbound(body, digest)) {
        this.recognized(body, digest, msg.early);
        return;
      }
      if (!this.next) throw new ProtocolError(`relay circuit ${this.id}`, 'unrecognized relay cell at the last hop');
      const queue = this.next.queue;
      const limit = (this.services.cellQueueLimits?.() ?? DEFAULT_CIRCUIT_CELL_QUEUE_LIMITS).outbound;
      if (queue.length >= limit && (queue.flush(), queue.length >= limit)) {
        this.overflow('the next hop', limit);
        return;
      }
      queue.push({ circId: this.next.circId, command: msg.early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY, body });
    } catch (e) {
      this.fail(e);
    }
  }

  onChannelClosed(): void {
    this.teardown(DestroyReason.CHANNEL_CLOSED, 'the previous hop\'s channel closed');
  }

  // ---- cells from the next hop ----

  private readonly nextEndpoint: CircuitEndpoint = {
    onCell: (cell) => {
      if (this.closed) return;
      try {
        const msg = decodeChanMsg(cell.command, cell.body);
        if (msg instanceof Created2) {
          if (!this.extending) throw new ProtocolError(`relay circuit ${this.id}`, 'CREATED2 from the next hop without an EXTEND2');
          this.extending = false;
          this.originate(0, new Extended2(msg.handshakeData));
          return;
        }
        if (msg instanceof Destroy) {
          // The rest of the circuit is gone; the client may extend again (tor-spec: TRUNCATED).
          const next = this.next;
          this.next = undefined;
          this.extending = false;
          if (next) {
            next.queue.clear();
            next.channel.releaseCircuit(next.circId);
          }
          this.originate(0, new Truncated(msg.reason));
          return;
        }
        if (msg instanceof Relay && !msg.early) {
          const body = msg.body.slice();
          this.crypto.encryptInbound(body, false);
          this.queueToPrev(body);
          return;
        }
        throw new ProtocolError(`relay circuit ${this.id}`, `unexpected ${ChanCmd.nameOf(cell.command)} from the next hop`);
      } catch (e) {
        this.fail(e);
      }
    },
    onChannelClosed: () => {
      if (this.closed || !this.next) return;
      this.next.queue.clear();
      this.next = undefined;
      this.extending = false;
      this.originate(0, new Truncated(DestroyReason.CHANNEL_CLOSED));
    },
  };

  // ---- relay messages for this hop ----

  private recognized(body: Uint8Array, digest: Uint8Array, early: boolean): void {
    const { command, streamId, data } = unpackRelayCell(body);
    const msg = decodeRelayMsg(command, data);
    if (command === RelayCmd.DATA) {
      const ack = this.congestion.dataReceived(digest);
      if (ack) this.originate(0, Sendme.v1(ack));
    }
    if (streamId !== 0) {
      this.streamMessage(streamId, msg);
      return;
    }
    switch (command) {
      case RelayCmd.EXTEND2:
        if (!early) throw new ProtocolError(`relay circuit ${this.id}`, 'EXTEND2 outside a RELAY_EARLY cell');
        void this.extend(msg as Extend2).catch((e: unknown) => this.fail(e));
        return;
      case RelayCmd.TRUNCATE: {
        const next = this.next;
        this.next = undefined;
        this.extending = false;
        if (next) {
          next.queue.clear();
          next.channel.send({ circId: next.circId, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.REQUESTED).encode() });
          next.channel.releaseCircuit(next.circId);
        }
        this.originate(0, new Truncated(DestroyReason.REQUESTED));
        return;
      }
      case RelayCmd.SENDME: {
        const s = msg as Sendme;
        this.congestion.sendmeReceived(s.version, s.digest);
        return;
      }
      case RelayCmd.DROP:
        return;
      default:
        this.services.log.debug(`relay circuit ${this.id}: ignoring ${RelayCmd.nameOf(command)} on stream 0`);
    }
  }

  private streamMessage(streamId: number, msg: RelayMsg): void {
    const existing = this.streams.get(streamId);
    if (existing) {
      existing.deliver(msg);
      return;
    }
    switch (msg.command) {
      case RelayCmd.BEGIN:
        void this.begin(streamId, msg as Begin).catch((e: unknown) => this.streamFailed(streamId, 'BEGIN', e));
        return;
      case RelayCmd.BEGIN_DIR:
        this.beginDir(streamId);
        return;
      case RelayCmd.RESOLVE:
        void this.answerResolve(streamId, msg as Resolve).catch((e: unknown) => this.streamFailed(streamId, 'RESOLVE', e));
        return;
      default:
        // DATA/END for a stream already closed here: in flight, harmless.
        return;
    }
  }

  private async extend(msg: Extend2): Promise<void> {
    if (this.next || this.extending) {
      this.fail(new ProtocolError(`relay circuit ${this.id}`, 'EXTEND2 on a circuit that is already extended'));
      return;
    }
    // tor (circuit_extend_lspec_valid_helper): extending back to the hop the EXTEND2 came from has
    // no use and helps circular-path attacks; the circuit is closed as a protocol violation.
    const back = this.namesPreviousHop(msg.linkSpecifiers);
    if (back) {
      this.fail(new ProtocolError(`relay circuit ${this.id}`, `EXTEND2 back to the previous hop (by ${back} identity)`));
      return;
    }
    this.extending = true;
    try {
      const channel = await this.services.extend(msg.linkSpecifiers);
      if (this.closed) return;
      const circId = channel.registerCircuit(this.nextEndpoint);
      this.next = { channel, circId, queue: channel.circuitQueue(circId, this.services.queueMemory) };
      channel.send({ circId, command: ChanCmd.CREATE2, body: new Create2(msg.handshakeType, msg.handshakeData).encode() });
    } catch (e) {
      this.extending = false;
      if (!isExpectedError(e)) {
        this.fail(e);
        return;
      }
      this.services.log.info(`relay circuit ${this.id}: cannot extend: ${e.message}`);
      if (!this.closed) this.originate(0, new Truncated(DestroyReason.CONNECTFAILED));
    }
  }

  private allocStream(streamId: number, target: string): TorStream | undefined {
    if (this.streams.size >= MAX_STREAMS_PER_CIRCUIT) {
      this.originate(streamId, new End(EndReason.RESOURCELIMIT));
      return undefined;
    }
    const stream = new TorStream(this, 0, streamId, target, true);
    this.streams.set(streamId, stream);
    return stream;
  }

  private async begin(streamId: number, begin: Begin): Promise<void> {
    const refusal = this.exitRefusal();
    if (refusal) {
      this.services.log.info(`relay circuit ${this.id}: refusing BEGIN ${refusal.why}: END ${EndReason.nameOf(refusal.reason)}`);
      this.originate(streamId, new End(refusal.reason));
      return;
    }
    if (!this.services.openExit) {
      // Not an exit: tor answers BEGIN with END EXITPOLICY.
      this.originate(streamId, new End(EndReason.EXITPOLICY));
      return;
    }
    const stream = this.allocStream(streamId, 'exit stream');
    if (!stream) return;
    // Aborted when the client ends the stream (streamClosed) or the circuit goes (teardown).
    const gone = new AbortController();
    this.pendingExits.set(streamId, gone);
    let outcome: ExitOutcome;
    try {
      outcome = await this.services.openExit(begin, gone.signal);
    } catch (e) {
      if (isExpectedError(e)) this.services.log.info(`relay circuit ${this.id}: exit failed: ${e.message}`);
      else this.unexpected.record(`relay circuit ${this.id}: exit stream ${streamId}, stream ended (END MISC)`, e);
      outcome = { ok: false, end: new End(EndReason.MISC) };
    } finally {
      if (this.pendingExits.get(streamId) === gone) this.pendingExits.delete(streamId);
    }
    if (this.closed || gone.signal.aborted) {
      if (outcome.ok) outcome.attach(stream); // the stream is already over: the host closes its socket
      return;
    }
    if (!outcome.ok) {
      this.streams.delete(streamId);
      this.originate(streamId, outcome.end);
      return;
    }
    this.originate(streamId, outcome.connected);
    outcome.attach(stream);
  }

  private beginDir(streamId: number): void {
    if (!this.services.serveDirectory) {
      this.originate(streamId, new End(EndReason.NOTDIRECTORY));
      return;
    }
    const onChannel = dirStreamsOnChannel.get(this.prev) ?? 0;
    if (this.dirStreams >= MAX_DIR_STREAMS_PER_CIRCUIT || onChannel >= MAX_DIR_STREAMS_PER_CHANNEL) {
      this.services.log.info(`relay circuit ${this.id}: refusing BEGIN_DIR: ${this.dirStreams >= MAX_DIR_STREAMS_PER_CIRCUIT ? `${MAX_DIR_STREAMS_PER_CIRCUIT} directory streams on the circuit` : `${MAX_DIR_STREAMS_PER_CHANNEL} directory streams on its channel`}`);
      this.originate(streamId, new End(EndReason.RESOURCELIMIT));
      return;
    }
    const stream = this.allocStream(streamId, 'directory stream');
    if (!stream) return;
    this.dirStreams++;
    dirStreamsOnChannel.set(this.prev, onChannel + 1);
    stream.onClose(() => {
      this.dirStreams--;
      dirStreamsOnChannel.set(this.prev, (dirStreamsOnChannel.get(this.prev) ?? 1) - 1);
    });
    this.originate(streamId, new Connected());
    this.services.serveDirectory(stream);
  }

  private async answerResolve(streamId: number, msg: Resolve): Promise<void> {
    const refusal = this.exitRefusal();
    if (refusal) {
      this.services.log.info(`relay circuit ${this.id}: refusing RESOLVE ${refusal.why}: END ${EndReason.nameOf(refusal.reason)}`);
      this.originate(streamId, new End(refusal.reason));
      return;
    }
    if (!this.services.resolve) {
      this.originate(streamId, new End(EndReason.EXITPOLICY));
      return;
    }
    // A failing resolver must cost the client its answer, not the relay an unhandled rejection
    // (and not leave the client waiting): END RESOLVEFAILED, as for BEGIN's failures.
    let answer: Resolved | End;
    const gone = new AbortController();
    this.pendingResolves.add(gone);
    try {
      answer = await this.services.resolve(msg, gone.signal);
    } catch (e) {
      if (isExpectedError(e)) {
        this.services.log.info(`relay circuit ${this.id}: resolve failed: ${e.message}`);
        answer = new End(EndReason.RESOLVEFAILED);
      } else {
        this.unexpected.record(`relay circuit ${this.id}: RESOLVE on stream ${streamId}, answered END MISC`, e);
        answer = new End(EndReason.MISC);
      }
    } finally {
      this.pendingResolves.delete(gone);
    }
    if (!this.closed) this.originate(streamId, answer);
  }

  // ---- StreamCarrier: our streams send towards the client ----

  sendOnStream(_hop: number, streamId: number, msg: RelayMsg): void {
    if (!this.closed) this.originate(streamId, msg);
  }

  circuitWindowOpen(): Promise<void> {
    return this.congestion.whenCanSend();
  }

  negotiated(): NegotiatedParameters {
    return this.negotiatedParameters;
  }

  streamClosed(streamId: number): void {
    this.streams.delete(streamId);
    this.pendingExits.get(streamId)?.abort(new StreamError(`exit stream ${streamId} on relay circuit ${this.id} closed before it connected`));
  }

  protocolViolation(error: ProtocolError): void {
    this.fail(error);
  }

  // ---- internals ----

  /** Send a relay message we originate, towards the client. */
  private originate(streamId: number, msg: RelayMsg): void {
    const body = packRelayCell({ command: msg.command, streamId, data: msg.encode() });
    const isData = msg.command === RelayCmd.DATA;
    const digest = isData ? new Uint8Array(20) : undefined;
    this.crypto.encryptInbound(body, true, digest);
    if (isData) this.congestion.dataSent(digest!);
    this.queueToPrev(body);
  }

  /** Queue a RELAY cell towards the client, unless this circuit already has its limit waiting. */
  private queueToPrev(body: Uint8Array): void {
    const limit = (this.services.cellQueueLimits?.() ?? DEFAULT_CIRCUIT_CELL_QUEUE_LIMITS).inbound;
    if (this.toPrev.length >= limit && (this.toPrev.flush(), this.toPrev.length >= limit)) {
      this.overflow('the previous hop', limit);
      return;
    }
    this.toPrev.push({ circId: this.circId, command: ChanCmd.RELAY, body });
  }

  /** This circuit's own queue is full: its far end does not read, or it floods. It alone goes. */
  private overflow(towards: string, limit: number): void {
    this.services.log.info(`relay circuit ${this.id}: ${limit} cells wait to go to ${towards} (circ_max_cell_queue_size); destroying the circuit`);
    this.destroy(DestroyReason.RESOURCELIMIT);
  }

  /**
   * The circuit cannot go on: a protocol violation (DESTROY PROTOCOL) or an unexpected error
   * (counted, DESTROY INTERNAL). Either way only this circuit pays.
   */
  private fail(e: unknown): void {
    if (!isExpectedError(e)) {
      this.unexpected.record(`relay circuit ${this.id}, circuit destroyed (INTERNAL)`, e);
      this.destroy(DestroyReason.INTERNAL);
      return;
    }
    this.services.log.info(`relay circuit ${this.id}: ${e.message}; destroying it`);
    this.destroy(DestroyReason.PROTOCOL);
  }

  /** A BEGIN or RESOLVE whose handling threw where nothing else caught it: end that stream only. */
  private streamFailed(streamId: number, what: string, e: unknown): void {
    if (isExpectedError(e)) this.services.log.info(`relay circuit ${this.id}: ${what} on stream ${streamId} failed: ${e.message}`);
    else this.unexpected.record(`relay circuit ${this.id}: ${what} on stream ${streamId}, stream ended (END MISC)`, e);
    const stream = this.streams.get(streamId);
    this.streams.delete(streamId);
    try {
      if (stream) stream.close(EndReason.MISC);
      else if (!this.closed) this.originate(streamId, new End(EndReason.MISC));
    } catch (again) {
      this.fail(again);
    }
  }

  /** Destroy in both directions with `reason`. */
  destroy(reason: number): void {
    if (this.closed) return;
    if (this.prev.isOpen) this.prev.send({ circId: this.circId, command: ChanCmd.DESTROY, body: new Destroy(reason).encode() });
    this.prev.releaseCircuit(this.circId);
    this.teardown(reason, 'destroyed here');
  }

  private teardown(reason: number, why: string): void {
    if (this.closed) return;
    this.closed = true;
    const next = this.next;
    this.next = undefined;
    // What waited to go out either way is dropped with the circuit (as tor clears its queues).
    this.toPrev.clear();
    next?.queue.clear();
    this.services.queueMemory?.unregister(this);
    if (next && next.channel.isOpen) {
      next.channel.send({ circId: next.circId, command: ChanCmd.DESTROY, body: new Destroy(reason).encode() });
      next.channel.releaseCircuit(next.circId);
    }
    const error = new CircuitError(`relay circuit ${this.id}: ${why}`, reason);
    for (const s of [...this.streams.values()]) s.fail(error);
    this.streams.clear();
    // Lookups and connects for streams that can no longer be answered stop now.
    for (const c of [...this.pendingExits.values(), ...this.pendingResolves]) c.abort(error);
    this.pendingExits.clear();
    this.pendingResolves.clear();
    this.congestion.close();
    this.services.closed(this);
  }
}
