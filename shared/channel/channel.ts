import { ChanCmd, CellDecoder, encodeCell, type ChannelCell } from '../cells/index.ts';
import { ChannelError, TelescopeError, TimeoutError, silentLogger, UnexpectedErrors, type Logger } from '../util/index.ts';
import type { ByteTransport } from './transport.ts';
import { LinkHandshakeInitiator, type LinkHandshakeOptions, type OpenedLink } from './handshake.ts';
import { LinkHandshakeResponder, type AcceptedLink, type LinkHandshakeResponderOptions } from './responder.ts';
import type { VerifiedResponderIdentity } from '../crypto/index.ts';

/**
 * A channel: one authenticated link to one relay, carrying many circuits (tor-spec "Channels").
 * It frames cells over the host's byte transport, runs the link handshake, hands out circuit ids
 * (the initiator sets the high bit) and routes each incoming cell to its circuit. Outgoing cells
 * queued in one turn of the event loop go out as one transport write: over a WebSocket that means
 * several cells per message, and messages, not bytes, are the dominant cost (measured between a
 * Chromium service worker and Node on a 2-core machine: ~6–8 MB/s at one cell per message, ~30 MB/s
 * at 8, ~50 MB/s at 32).
 *
 * A relay queues the cells it forwards per circuit (CircuitQueue, tor's circuit cell queues):
 * the channel takes one cell from each circuit with cells waiting, in turn, while its transport
 * holds less than LINK_HIGH_WATER_BYTES, and goes on when the transport drains. A circuit whose
 * cells cannot leave fills its own queue, where its relay can see it and close it (the circuit,
 * not the link nor whichever circuit comes next). On a client's link the channel also stops
 * reading while more than READ_PAUSE_HIGH_WATER_BYTES wait to go out to that client, and reads on
 * below READ_PAUSE_LOW_WATER_BYTES: a peer that does not read what we send it is not read either.
 */

/** Bytes a channel keeps in its transport's write buffer; more wait in the circuits' queues. */
export const LINK_HIGH_WATER_BYTES = 256 * 1024;
/**
 * A client's link is no longer read while this much waits to go out to it (in circuit queues and
 * the transport), and is read again below the low-water mark. Only links from clients: between
 * relays both sides pausing on full buffers could wait for each other forever (tor does not pause
 * relay links either), and per-circuit queue limits and the OOM handler bound those.
 */
export const READ_PAUSE_HIGH_WATER_BYTES = 2 * 1024 * 1024;
export const READ_PAUSE_LOW_WATER_BYTES = 512 * 1024;

/** Cells one circuit may send in its turn before the next circuit's turn (fair, yet few rounds). */
const CELLS_PER_TURN = 16;

/** Where a relay accounts queued cells (the MaxMemInQueues handler); optional. */
export interface QueueAccounting {
  /** A stamp for a cell queued now: later cells get larger stamps (a clock or a sequence). */
  now(): number;
  added(bytes: number): void;
  removed(bytes: number): void;
}

/**
 * Cells one circuit has waiting to go out on one channel (tor's per-circuit cell queue). Made by
 * the channel (Channel.circuitQueue); the circuit checks `length` against its limit before push().
 */
export class CircuitQueue {
  private cells: Uint8Array[] = [];
  private stamps: number[] = [];
  private head = 0;
  /** Bytes waiting. */
  bytes = 0;
  /** In the channel's round of queues to serve. */
  scheduled = false;

  constructor(private readonly channel: Channel, readonly circId: number, private readonly accounting: QueueAccounting | undefined) {}

  /** Cells waiting. */
  get length(): number {
    return this.cells.length - this.head;
  }

  /** When the oldest waiting cell was queued (the accounting's clock); undefined when empty. */
  get oldestQueuedAt(): number | undefined {
    return this.head < this.cells.length ? this.stamps[this.head] : undefined;
  }

  /** Queue a cell; the channel sends it when its turn comes. Throws if the channel is closed. */
  push(cell: ChannelCell): void {
    this.channel.queueFromCircuit(this, cell);
  }

  /**
   * Send what the channel can now, instead of at the end of this turn: a burst queued within one
   * turn is not a backlog, so a circuit checks its limit against what is left after this.
   */
  flush(): void {
    this.channel.flushNow();
  }

  /** Drop every waiting cell (the circuit is gone). */
  clear(): void {
    if (this.length === 0) return;
    const bytes = this.bytes;
    this.cells = [];
    this.stamps = [];
    this.head = 0;
    this.bytes = 0;
    this.channel.dropped(bytes);
    this.accounting?.removed(bytes);
  }

  /** @internal (Channel) */
  append(bytes: Uint8Array): void {
    this.cells.push(bytes);
    this.stamps.push(this.accounting ? this.accounting.now() : 0);
    this.bytes += bytes.length;
    this.accounting?.added(bytes.length);
  }

  /** @internal (Channel) */
  take(): Uint8Array | undefined {
    if (this.head >= this.cells.length) return undefined;
    const cell = this.cells[this.head]!;
    this.cells[this.head] = undefined as unknown as Uint8Array;
    this.head++;
    if (this.head === this.cells.length) {
      this.cells = [];
      this.stamps = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.cells.length) {
      this.cells = this.cells.slice(this.head);
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    this.bytes -= cell.length;
    this.accounting?.removed(cell.length);
    return cell;
  }
}

/** What a circuit registers to receive its cells. */
export interface CircuitEndpoint {
  /** A cell for this circuit (RELAY, RELAY_EARLY, CREATED2, DESTROY, ...). */
  onCell(cell: ChannelCell): void;
  /** The channel under the circuit is gone. */
  onChannelClosed(error: TelescopeError): void;
}

interface CommonOptions {
  readonly timeoutMs?: number;
  readonly log?: Logger;
  readonly random?: (n: number) => Uint8Array;
  /** Where an error that is no TelescopeError, thrown while handling a cell, is counted (the channel closes). */
  readonly unexpected?: UnexpectedErrors;
}

export interface ChannelOpenOptions extends Omit<LinkHandshakeOptions, 'now'>, CommonOptions {
  readonly now?: () => Date;
}

export type ChannelAcceptOptions = LinkHandshakeResponderOptions & CommonOptions;

/** A handshake state machine, either side: feed cells, send what it returns. */
interface HandshakeMachine<L> {
  readonly version: number;
  receive(cell: ChannelCell): { send: ChannelCell[]; opened?: L };
}

/** Which side of the link we are: the initiator sets the high bit of the circuit ids it picks. */
export type ChannelRole = 'initiator' | 'responder';

/** A CREATE/CREATE2/CREATE_FAST for a circuit id we do not know: the peer opens a circuit through us. */
export type IncomingCircuitHandler = (cell: ChannelCell, channel: Channel) => void;

export class Channel {
  private readonly circuits = new Map<number, CircuitEndpoint>();
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  private flushScheduled = false;
  /** Circuit queues with cells waiting, in the order they are served next. */
  private ready: CircuitQueue[] = [];
  /** Bytes in all circuit queues of this channel. */
  private circuitQueueBytes = 0;
  /** Reading is paused because too much waits to go out to this (client) peer. */
  private readPaused = false;
  private closedWith: TelescopeError | undefined;
  private readonly closeListeners: ((error: TelescopeError) => void)[] = [];
  /** Last time a cell arrived or left, for idle-channel expiry. */
  lastActivity = Date.now();
  /** Bytes carried since the link opened (a relay reports its observed bandwidth from these). */
  bytesIn = 0;
  bytesOut = 0;

  /** Set by a relay: circuits that peers open through this channel. */
  onIncomingCircuit: IncomingCircuitHandler | undefined;

  private constructor(
    private readonly transport: ByteTransport,
    private readonly decoder: CellDecoder,
    readonly link: OpenedLink | AcceptedLink,
    readonly role: ChannelRole,
    private readonly log: Logger,
    private readonly random: (n: number) => Uint8Array,
    private readonly unexpected: UnexpectedErrors,
  ) {}

  /** The relay identity the peer proved, on channels we initiated. */
  get peerIdentity(): VerifiedResponderIdentity {
    if (!('identity' in this.link)) throw new ChannelError(`channel from ${this.description} has no proven relay identity`);
    return this.link.identity;
  }

  get linkVersion(): number {
    return this.link.linkVersion;
  }

  /** Run the link handshake as initiator over `transport` and return the open channel. */
  static open(transport: ByteTransport, opts: ChannelOpenOptions = {}): Promise<Channel> {
    const handshake = new LinkHandshakeInitiator({ ...opts, now: opts.now ?? (() => new Date()) });
    return Channel.handshake(transport, 'initiator', handshake, [handshake.start()], opts, (l) => `relay ${l.identity.fingerprint}`);
  }

  /** Run the link handshake as responder (we are the relay) and return the open channel. */
  static accept(transport: ByteTransport, opts: ChannelAcceptOptions): Promise<Channel> {
    return Channel.handshake(transport, 'responder', new LinkHandshakeResponder(opts), [], opts, (l) => (l.initiator ? `relay ${l.initiator.fingerprint} (authenticated)` : 'a client'));
  }

  private static handshake<L extends OpenedLink | AcceptedLink>(
    transport: ByteTransport,
    role: ChannelRole,
    handshake: HandshakeMachine<L>,
    first: ChannelCell[],
    opts: CommonOptions,
    describe: (l: L) => string,
  ): Promise<Channel> {
    const log = opts.log ?? silentLogger;
    const random = opts.random ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
    const decoder = new CellDecoder(0);
    return new Promise<Channel>((resolve, reject) => {
      let done = false;
      const fail = (e: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        transport.onData = undefined;
        transport.onClose = undefined;
        transport.close();
        reject(e instanceof TelescopeError ? e : new ChannelError(`link handshake with ${transport.description} failed: ${String(e)}`, { cause: e, peer: transport.description, phase: 'link-handshake' }));
      };
      const timer = setTimeout(() => fail(new TimeoutError(`link handshake with ${transport.description} timed out`, { peer: transport.description, phase: 'link-handshake' })), opts.timeoutMs ?? 20_000);
      transport.onClose = (error) => fail(new ChannelError(`${transport.description} closed during the link handshake${error ? `: ${error.message}` : ''}`, { cause: error, peer: transport.description, phase: 'link-handshake' }));
      const feed = (data: Uint8Array) => {
        try {
          let cells = decoder.push(data);
          while (!done && cells.length > 0) {
            for (const [index, cell] of cells.entries()) {
              const { send, opened } = handshake.receive(cell);
              if (handshake.version !== 0) decoder.linkVersion = handshake.version;
              // VERSIONS always travels with 2-byte circuit ids; everything after uses the agreed framing.
              for (const c of send) transport.send(encodeCell(c, c.command === ChanCmd.VERSIONS ? 0 : handshake.version));
              if (opened) {
                done = true;
                clearTimeout(timer);
                const channel = new Channel(transport, decoder, opened, role, log, random, opts.unexpected ?? new UnexpectedErrors(log));
                log.info(`channel ${role === 'initiator' ? 'to' : 'from'} ${transport.description} open: link v${opened.linkVersion}, ${describe(opened)}`);
                resolve(channel);
                // Cells that arrived in the same chunk after NETINFO (a client often sends its
                // first CREATE right behind its NETINFO) belong to the open channel.
                channel.attach(cells.slice(index + 1));
                return;
              }
            }
            // After VERSIONS the decoder pauses until the version is known: resume it.
            cells = decoder.push(new Uint8Array(0));
          }
        } catch (e) {
          fail(e);
        }
      };
      transport.onData = feed;
      for (const c of first) transport.send(encodeCell(c, 0));
    });
  }

  private attach(early: ChannelCell[]): void {
    // Until the caller has seen the channel (and set onIncomingCircuit), new bytes wait in order.
    const held: Uint8Array[] = [];
    this.transport.onData = (data) => held.push(data);
    this.transport.onClose = (error) => this.closed(new ChannelError(`channel to ${this.transport.description} closed${error ? `: ${error.message}` : ''}`, { cause: error, peer: this.transport.description }));
    this.transport.onDrain = () => this.scheduleFlush();
    // A macrotask runs after every promise reaction, so whoever awaited the handshake is ready.
    setTimeout(() => {
      if (this.closedWith) return;
      this.transport.onData = (data) => this.receive(data);
      for (const cell of early) {
        if (this.closedWith) return;
        this.dispatch(cell);
      }
      this.receive(new Uint8Array(0));
      for (const data of held) this.receive(data);
    }, 0);
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  get description(): string {
    return this.transport.description;
  }

  /** Bytes waiting to go out on this link (ours, the circuits' queues, and the transport's buffer when known). */
  get queuedBytes(): number {
    return this.outgoingBytes + this.circuitQueueBytes + (this.transport.bufferedAmount ?? 0);
  }

  /** Whether reading from the peer is paused because it does not read what we send it. */
  get readingPaused(): boolean {
    return this.readPaused;
  }

  /** A queue for circuit `circId`'s cells on this channel (see CircuitQueue). */
  circuitQueue(circId: number, accounting?: QueueAccounting): CircuitQueue {
    return new CircuitQueue(this, circId, accounting);
  }

  /** @internal (CircuitQueue.push) */
  queueFromCircuit(queue: CircuitQueue, cell: ChannelCell): void {
    if (this.closedWith) throw this.closedWith;
    const bytes = encodeCell(cell, this.link.linkVersion);
    queue.append(bytes);
    this.circuitQueueBytes += bytes.length;
    if (!queue.scheduled) {
      queue.scheduled = true;
      this.ready.push(queue);
    }
    this.lastActivity = Date.now();
    this.scheduleFlush();
  }

  /** @internal (CircuitQueue.clear) */
  dropped(bytes: number): void {
    this.circuitQueueBytes -= bytes;
  }

  /**
   * Whether we read from this peer while its data backs up: not on links a client opened to us
   * (see READ_PAUSE_HIGH_WATER_BYTES); always on links to and from relays.
   */
  private get pausesReading(): boolean {
    return this.role === 'responder' && !('initiator' in this.link && this.link.initiator !== undefined);
  }

  private checkReadPause(): void {
    if (!this.pausesReading || this.closedWith) return;
    const backlog = this.queuedBytes;
    if (!this.readPaused && backlog > READ_PAUSE_HIGH_WATER_BYTES) {
      this.readPaused = true;
      this.log.debug(`channel ${this.description}: ${backlog} bytes wait for a peer that does not read; reading paused`);
      this.transport.pause?.();
    } else if (this.readPaused && backlog < READ_PAUSE_LOW_WATER_BYTES) {
      this.readPaused = false;
      this.log.debug(`channel ${this.description}: the peer reads again; reading resumed`);
      this.transport.resume?.();
    }
  }

  get circuitCount(): number {
    return this.circuits.size;
  }

  /**
   * Reserve a fresh circuit id for `endpoint`: high bit set if we initiated the link, clear if
   * we accepted it (tor-spec, link protocol 4+), so both sides can create circuits without clashing.
   */
  registerCircuit(endpoint: CircuitEndpoint): number {
    if (this.closedWith) throw this.closedWith;
    for (let attempt = 0; attempt < 64; attempt++) {
      const b = this.random(4);
      const raw = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      const id = this.role === 'initiator' ? (raw | 0x80000000) >>> 0 : raw & 0x7fffffff;
      if (id === 0) continue;
      if (!this.circuits.has(id)) {
        this.circuits.set(id, endpoint);
        return id;
      }
    }
    throw new ChannelError(`no free circuit id on ${this.description}`);
  }

  /** Attach an endpoint to a circuit id the peer chose (an incoming CREATE). */
  adoptCircuit(circId: number, endpoint: CircuitEndpoint): void {
    if (this.closedWith) throw this.closedWith;
    this.circuits.set(circId, endpoint);
  }

  /** Whether `circId` is in use on this channel. */
  hasCircuit(circId: number): boolean {
    return this.circuits.has(circId);
  }

  /** Forget a circuit id (after DESTROY was sent or received). */
  releaseCircuit(circId: number): void {
    this.circuits.delete(circId);
  }

  /** Queue a cell; cells queued in one turn go out in one transport write. */
  send(cell: ChannelCell): void {
    if (this.closedWith) throw this.closedWith;
    const bytes = encodeCell(cell, this.link.linkVersion);
    this.bytesOut += bytes.length;
    this.outgoing.push(bytes);
    this.outgoingBytes += bytes.length;
    this.lastActivity = Date.now();
    this.scheduleFlush();
  }

  /** @internal (CircuitQueue.flush) */
  flushNow(): void {
    if (this.flushScheduled) this.flush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closedWith) return;
    const parts = this.outgoing;
    let total = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    if (this.ready.length > 0) total = this.takeFromCircuits(parts, total);
    if (parts.length > 0) {
      if (parts.length === 1) {
        this.transport.send(parts[0]!);
      } else {
        const joined = new Uint8Array(total);
        let pos = 0;
        for (const p of parts) {
          joined.set(p, pos);
          pos += p.length;
        }
        this.transport.send(joined);
      }
    }
    // Cells left in circuit queues go when the transport drains (onDrain schedules a flush).
    this.checkReadPause();
  }

  /**
   * Move cells from the circuits' queues into `parts`, up to CELLS_PER_TURN from each circuit in
   * turn (round robin), while the transport has room.
   */
  private takeFromCircuits(parts: Uint8Array[], total: number): number {
    let room = LINK_HIGH_WATER_BYTES - (this.transport.bufferedAmount ?? 0) - total;
    let taken = 0;
    while (room > 0 && this.ready.length > 0) {
      const round = this.ready;
      this.ready = [];
      for (let i = 0; i < round.length; i++) {
        if (room <= 0) {
          // Those not served this round go first next time.
          this.ready = round.slice(i).concat(this.ready);
          break;
        }
        const queue = round[i]!;
        for (let n = 0; n < CELLS_PER_TURN && room > 0; n++) {
          const cell = queue.take();
          if (!cell) break;
          parts.push(cell);
          total += cell.length;
          taken += cell.length;
          room -= cell.length;
        }
        if (queue.length > 0) this.ready.push(queue);
        else queue.scheduled = false;
      }
    }
    this.circuitQueueBytes -= taken;
    this.bytesOut += taken;
    return total;
  }

  onClose(listener: (error: TelescopeError) => void): void {
    if (this.closedWith) listener(this.closedWith);
    else this.closeListeners.push(listener);
  }

  /** Close the link; every circuit on it learns the reason. */
  close(reason = 'closed by us'): void {
    if (this.closedWith) return;
    this.flush();
    this.closed(new ChannelError(`channel to ${this.description} ${reason}`, { peer: this.description }));
    this.transport.close();
  }

  private closed(error: TelescopeError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.transport.onData = undefined;
    this.transport.onClose = undefined;
    this.transport.onDrain = undefined;
    this.ready = [];
    const circuits = [...this.circuits.values()];
    this.circuits.clear();
    for (const c of circuits) c.onChannelClosed(error);
    for (const l of this.closeListeners.splice(0)) l(error);
    this.log.info(error.message);
  }

  private receive(data: Uint8Array): void {
    if (this.closedWith) return;
    this.lastActivity = Date.now();
    this.bytesIn += data.length;
    let cells: ChannelCell[];
    try {
      cells = this.decoder.push(data);
    } catch (e) {
      this.log.warn(`closing channel to ${this.description}: ${e instanceof Error ? e.message : String(e)}`);
      this.close('closed: peer broke the cell framing');
      return;
    }
    for (const cell of cells) {
      if (this.closedWith) return;
      try {
        this.dispatch(cell);
      } catch (e) {
        // Circuits and the relay's switch handle their own failures; what still escapes is
        // unexpected. It costs this channel, never the process (nor the transport's event loop).
        const expected = e instanceof TelescopeError;
        if (expected) this.log.warn(`closing channel to ${this.description}: ${e.message}`);
        else this.unexpected.record(`channel to ${this.description}, channel closed`, e);
        this.close(expected ? 'closed: a cell could not be handled' : 'closed: internal error');
        return;
      }
    }
  }

  private dispatch(cell: ChannelCell): void {
    switch (cell.command) {
      case ChanCmd.PADDING:
      case ChanCmd.VPADDING:
      case ChanCmd.PADDING_NEGOTIATE:
        return;
      case ChanCmd.VERSIONS:
      case ChanCmd.CERTS:
      case ChanCmd.AUTH_CHALLENGE:
      case ChanCmd.NETINFO:
        this.log.warn(`closing channel to ${this.description}: ${ChanCmd.nameOf(cell.command)} after the handshake`);
        this.close('closed: handshake cell on an open channel');
        return;
    }
    const endpoint = this.circuits.get(cell.circId);
    if (endpoint) {
      endpoint.onCell(cell);
      return;
    }
    const creates = cell.command === ChanCmd.CREATE2 || cell.command === ChanCmd.CREATE_FAST || cell.command === ChanCmd.CREATE;
    if (creates && this.onIncomingCircuit) {
      this.onIncomingCircuit(cell, this);
      return;
    }
    if (creates) {
      // We relay nothing: refuse politely, as a client does.
      this.send({ circId: cell.circId, command: ChanCmd.DESTROY, body: Uint8Array.of(1) });
      return;
    }
    // Cells for a circuit we already tore down can still be in flight: drop them quietly.
  }
}
