import { RelayCmd, RELAY_DATA_MAX, Data, End, EndReason, type RelayMsg } from '../cells/index.ts';
import { NOTHING_NEGOTIATED, type NegotiatedParameters } from '../crypto/index.ts';
import { ProtocolError, StreamError, type TelescopeError } from '../util/index.ts';
import { streamFlowControlFor, type StreamFlowControl } from './flow-control.ts';

export { STREAM_WINDOW_START, STREAM_WINDOW_INCREMENT } from './flow-control.ts';

/**
 * A stream: one TCP-like connection multiplexed on a circuit (tor-spec "Opening streams",
 * "Flow control"). It is a duplex byte stream with backpressure both ways:
 * - writing waits while the stream's flow control (flow-control.ts: a package window of 500, +50
 *   per SENDME) or the circuit's congestion control towards the stream's hop holds DATA back;
 * - incoming data queues until the reader takes it, and the flow control hears how much is
 *   unread, so a slow reader slows the exit down instead of growing memory. A peer that sends
 *   past what it may loses the circuit.
 */

/** What a stream needs from its circuit. */
export interface StreamCarrier {
  /** Send a relay message on this stream to its hop. */
  sendOnStream(hop: number, streamId: number, msg: RelayMsg): void;
  /** Resolve once the circuit may package a DATA cell for `hop` (circuit-level window). */
  circuitWindowOpen(hop: number): Promise<void>;
  /** The stream is closed: forget its id. */
  streamClosed(streamId: number): void;
  /** Tear down the circuit for a protocol violation on this stream. */
  protocolViolation(error: ProtocolError): void;
  /** What the handshake of `hop` negotiated: it picks the stream's flow control. Absent: nothing. */
  negotiated?(hop: number): NegotiatedParameters;
}

export class TorStream {
  private readonly chunks: Uint8Array[] = [];
  private unreadBytes = 0;
  private readWaiter: (() => void) | undefined;
  private readonly flow: StreamFlowControl;
  /** Set when the stream is finished for reading (END received, or closed). */
  private ended = false;
  private failure: TelescopeError | undefined;
  private closedLocally = false;
  private finished = false;
  /** Why the far side ended the stream, once it has. */
  endReason: number | undefined;
  private readonly closeListeners: (() => void)[] = [];
  /** Bytes moved, for status displays and tests. */
  bytesRead = 0;
  bytesWritten = 0;

  constructor(
    private readonly carrier: StreamCarrier,
    readonly hop: number,
    readonly streamId: number,
    readonly target: string,
    /** The far end opened it (an onion service's incoming stream); we opened it otherwise. */
    readonly openedByPeer = false,
  ) {
    this.flow = streamFlowControlFor(carrier.negotiated?.(hop) ?? NOTHING_NEGOTIATED, {
      context: `stream ${streamId}`,
      send: (msg) => carrier.sendOnStream(hop, streamId, msg),
    });
  }

  /** Whether the stream can still carry data in both directions. */
  get isOpen(): boolean {
    return !this.ended && !this.closedLocally;
  }

  /**
   * The next chunk of data, or null once the far side ended the stream cleanly (END DONE).
   * Throws StreamError if the stream or its circuit failed.
   */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.unreadBytes -= chunk.length;
        this.bytesRead += chunk.length;
        this.reportUnread();
        return chunk;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return null;
      await new Promise<void>((resolve) => { this.readWaiter = resolve; });
    }
  }

  /** Read everything until the far side ends the stream. */
  async readAll(limit = 64 * 1024 * 1024): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let c = await this.read(); c; c = await this.read()) {
      total += c.length;
      if (total > limit) throw new StreamError(`stream to ${this.target}: more than ${limit} bytes`);
      parts.push(c);
    }
    const out = new Uint8Array(total);
    let pos = 0;
    for (const p of parts) { out.set(p, pos); pos += p.length; }
    return out;
  }

  /** Send bytes; resolves once all of them are packaged into cells (waits on windows). */
  async write(data: Uint8Array): Promise<void> {
    for (let pos = 0; pos < data.length; ) {
      if (this.failure) throw this.failure;
      if (this.closedLocally || this.ended) throw new StreamError(`stream to ${this.target} is closed`);
      if (!this.flow.canSend) {
        await this.flow.whenCanSend();
        continue;
      }
      await this.carrier.circuitWindowOpen(this.hop);
      if (this.failure) throw this.failure;
      if (!this.flow.canSend) continue;
      const piece = data.subarray(pos, pos + RELAY_DATA_MAX);
      this.flow.dataSent();
      this.carrier.sendOnStream(this.hop, this.streamId, new Data(piece.slice()));
      this.bytesWritten += piece.length;
      pos += piece.length;
    }
  }

  /** Close the stream (END with `reason`, DONE by default). Pending reads then see the end. */
  /**
   * End the stream. The side that opened a stream tells the other nothing about why it closes
   * (proposal 148, as tor does: always MISC); the side that accepted it says DONE or the reason.
   */
  close(reason: number = this.openedByPeer ? EndReason.DONE : EndReason.MISC): void {
    if (this.closedLocally) return;
    this.closedLocally = true;
    if (!this.ended) {
      this.ended = true;
      this.carrier.sendOnStream(this.hop, this.streamId, new End(reason));
    }
    this.finish();
  }

  /** Called once the stream is closed, by either side or by its circuit's failure. */
  onClose(listener: () => void): void {
    if (this.finished) listener();
    else this.closeListeners.push(listener);
  }

  // ---- called by the circuit ----

  /** A relay message for this stream arrived. */
  deliver(msg: RelayMsg): void {
    switch (msg.command) {
      case RelayCmd.DATA: {
        if (this.ended) return; // in flight when we closed: already accounted by the circuit
        try {
          this.flow.dataReceived();
        } catch (e) {
          this.flowViolated(e);
          return;
        }
        const data = (msg as Data).data;
        if (data.length === 0) return;
        this.chunks.push(data);
        this.unreadBytes += data.length;
        this.wakeReader();
        this.reportUnread();
        return;
      }
      case RelayCmd.SENDME:
        try {
          this.flow.sendmeReceived();
        } catch (e) {
          this.flowViolated(e);
        }
        return;
      case RelayCmd.END: {
        const end = msg as End;
        this.endReason = end.reason;
        this.ended = true;
        // The opener of a stream ends it with MISC whatever happened (proposal 148), so on a stream
        // the far end opened, MISC is a clean close.
        const clean = end.reason === EndReason.DONE || (this.openedByPeer && end.reason === EndReason.MISC);
        if (!clean) {
          this.failure = new StreamError(`stream to ${this.target} closed by the exit: ${EndReason.nameOf(end.reason)}`, end.reason);
        }
        this.closedLocally = true;
        this.finish();
        return;
      }
      default:
        // CONNECTED twice, RESOLVED on a data stream, ...: tor drops such cells with a warning.
        return;
    }
  }

  /** The circuit died: the stream is gone too. */
  fail(error: TelescopeError): void {
    if (this.finished) return;
    this.failure ??= new StreamError(`stream to ${this.target}: ${error.message}`, EndReason.DESTROY, { cause: error });
    this.ended = true;
    this.closedLocally = true;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.wakeReader();
    this.flow.close();
    this.carrier.streamClosed(this.streamId);
    for (const l of this.closeListeners.splice(0)) l();
  }

  private wakeReader(): void {
    const w = this.readWaiter;
    this.readWaiter = undefined;
    w?.();
  }

  /** What the reader has not taken yet decides what the far end may send next. */
  private reportUnread(): void {
    if (!this.ended) this.flow.unreadChanged(this.unreadBytes);
  }

  /** The peer broke the stream's flow control: that costs the circuit. */
  private flowViolated(e: unknown): void {
    if (!(e instanceof ProtocolError)) throw e;
    this.carrier.protocolViolation(e);
  }
}
