import { ChanCmd } from '../cells/channel/command.ts';
import { CellDecoder, encodeCell, type ChannelCell } from '../cells/channel/framing.ts';
import { ChannelError, TelescopeError, TimeoutError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { ByteTransport } from './transport.ts';
import { LinkHandshakeInitiator, type LinkHandshakeOptions, type OpenedLink } from './handshake.ts';

/**
 * A channel: one authenticated link to one relay, carrying many circuits (tor-spec "Channels").
 * It frames cells over the host's byte transport, runs the link handshake, hands out circuit ids
 * (the initiator sets the high bit) and routes each incoming cell to its circuit. Outgoing cells
 * queued in one turn of the event loop go out as one transport write: over a WebSocket that means
 * several cells per message, which DESIGN.md measured as the dominant cost.
 */

/** What a circuit registers to receive its cells. */
export interface CircuitEndpoint {
  /** A cell for this circuit (RELAY, RELAY_EARLY, CREATED2, DESTROY, ...). */
  onCell(cell: ChannelCell): void;
  /** The channel under the circuit is gone. */
  onChannelClosed(error: TelescopeError): void;
}

export interface ChannelOpenOptions extends Omit<LinkHandshakeOptions, 'now'> {
  readonly now?: () => Date;
  readonly timeoutMs?: number;
  readonly log?: Logger;
  readonly random?: (n: number) => Uint8Array;
}

export class Channel {
  private readonly circuits = new Map<number, CircuitEndpoint>();
  private outgoing: Uint8Array[] = [];
  private outgoingBytes = 0;
  private flushScheduled = false;
  private closedWith: TelescopeError | undefined;
  private readonly closeListeners: ((error: TelescopeError) => void)[] = [];
  /** Last time a cell arrived or left, for idle-channel expiry. */
  lastActivity = Date.now();

  private constructor(
    private readonly transport: ByteTransport,
    private readonly decoder: CellDecoder,
    readonly link: OpenedLink,
    private readonly log: Logger,
    private readonly random: (n: number) => Uint8Array,
  ) {}

  /** Run the link handshake over `transport` and return the open channel. */
  static open(transport: ByteTransport, opts: ChannelOpenOptions = {}): Promise<Channel> {
    const log = opts.log ?? silentLogger;
    const random = opts.random ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
    const handshake = new LinkHandshakeInitiator({ ...opts, now: opts.now ?? (() => new Date()) });
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
        reject(e instanceof TelescopeError ? e : new ChannelError(`link handshake with ${transport.description} failed: ${String(e)}`, { cause: e }));
      };
      const timer = setTimeout(() => fail(new TimeoutError(`link handshake with ${transport.description} timed out`)), opts.timeoutMs ?? 20_000);
      transport.onClose = (error) => fail(new ChannelError(`${transport.description} closed during the link handshake${error ? `: ${error.message}` : ''}`, { cause: error }));
      const feed = (data: Uint8Array) => {
        try {
          let cells = decoder.push(data);
          while (!done && cells.length > 0) {
            for (const cell of cells) {
              const { send, opened } = handshake.receive(cell);
              if (handshake.version !== 0) decoder.linkVersion = handshake.version;
              for (const c of send) transport.send(encodeCell(c, handshake.version));
              if (opened) {
                done = true;
                clearTimeout(timer);
                const channel = new Channel(transport, decoder, opened, log, random);
                log.info(`channel to ${transport.description} open: link v${opened.linkVersion}, relay ${opened.identity.fingerprint}`);
                resolve(channel);
                // Cells that arrived in the same chunk after NETINFO belong to the open channel.
                channel.attach();
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
      transport.send(encodeCell(handshake.start(), 0));
    });
  }

  private attach(): void {
    this.transport.onData = (data) => this.receive(data);
    this.transport.onClose = (error) => this.closed(new ChannelError(`channel to ${this.transport.description} closed${error ? `: ${error.message}` : ''}`, { cause: error }));
    this.receive(new Uint8Array(0));
  }

  get isOpen(): boolean {
    return this.closedWith === undefined;
  }

  get description(): string {
    return this.transport.description;
  }

  get circuitCount(): number {
    return this.circuits.size;
  }

  /** Reserve a fresh circuit id (high bit set: we initiated the link) for `endpoint`. */
  registerCircuit(endpoint: CircuitEndpoint): number {
    if (this.closedWith) throw this.closedWith;
    for (let attempt = 0; attempt < 64; attempt++) {
      const b = this.random(4);
      const id = (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) | 0x80000000) >>> 0;
      if (!this.circuits.has(id)) {
        this.circuits.set(id, endpoint);
        return id;
      }
    }
    throw new ChannelError(`no free circuit id on ${this.description}`);
  }

  /** Forget a circuit id (after DESTROY was sent or received). */
  releaseCircuit(circId: number): void {
    this.circuits.delete(circId);
  }

  /** Queue a cell; cells queued in one turn go out in one transport write. */
  send(cell: ChannelCell): void {
    if (this.closedWith) throw this.closedWith;
    const bytes = encodeCell(cell, this.link.linkVersion);
    this.outgoing.push(bytes);
    this.outgoingBytes += bytes.length;
    this.lastActivity = Date.now();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closedWith || this.outgoing.length === 0) return;
    const parts = this.outgoing;
    const total = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    if (parts.length === 1) {
      this.transport.send(parts[0]!);
      return;
    }
    const joined = new Uint8Array(total);
    let pos = 0;
    for (const p of parts) {
      joined.set(p, pos);
      pos += p.length;
    }
    this.transport.send(joined);
  }

  onClose(listener: (error: TelescopeError) => void): void {
    if (this.closedWith) listener(this.closedWith);
    else this.closeListeners.push(listener);
  }

  /** Close the link; every circuit on it learns the reason. */
  close(reason = 'closed by us'): void {
    if (this.closedWith) return;
    this.flush();
    this.closed(new ChannelError(`channel to ${this.description} ${reason}`));
    this.transport.close();
  }

  private closed(error: TelescopeError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.transport.onData = undefined;
    this.transport.onClose = undefined;
    const circuits = [...this.circuits.values()];
    this.circuits.clear();
    for (const c of circuits) c.onChannelClosed(error);
    for (const l of this.closeListeners.splice(0)) l(error);
    this.log.info(error.message);
  }

  private receive(data: Uint8Array): void {
    if (this.closedWith) return;
    this.lastActivity = Date.now();
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
      this.dispatch(cell);
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
    // Cells for a circuit we already tore down can still be in flight: drop them quietly.
    if (!endpoint) return;
    endpoint.onCell(cell);
  }
}
