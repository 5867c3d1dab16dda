import { RELAY_DATA_MAX, Sendme, type RelayMsg } from '../cells/index.ts';
import type { NegotiatedParameters } from '../crypto/index.ts';
import { ProtocolError } from '../util/index.ts';

/**
 * Stream-level flow control: when a stream may package another DATA cell, and what it tells the
 * far end as its reader takes data. A stream asks these questions and never counts windows itself;
 * `streamFlowControlFor` makes one per stream from what its hop's handshake negotiated.
 */
export interface StreamFlowControl {
  /** Whether a DATA cell may be sent now. */
  readonly canSend: boolean;
  /** Resolves once a DATA cell may be sent (at once when it may now, and when the stream closes). */
  whenCanSend(): Promise<void>;
  /** A DATA cell was sent. */
  dataSent(): void;
  /** A stream-level SENDME arrived. Throws ProtocolError when it opens more than the peer may. */
  sendmeReceived(): void;
  /** A DATA cell arrived. Throws ProtocolError when the peer sent beyond what it may. */
  dataReceived(): void;
  /** `unreadBytes` wait for the reader now (data came in, or the reader took some): tell the peer what it may send. */
  unreadChanged(unreadBytes: number): void;
  /** The stream is over: release whoever waits in whenCanSend. */
  close(): void;
}

/** How a stream's flow control names itself in errors and talks to the far end. */
export interface StreamFlowIo {
  /** Names the stream in errors, e.g. `stream 5`. */
  readonly context: string;
  /** Send a flow-control message on the stream. */
  send(msg: RelayMsg): void;
}

export const STREAM_WINDOW_START = 500;
export const STREAM_WINDOW_INCREMENT = 50;
/** Queue at most this many undelivered bytes before holding back stream SENDMEs. */
const MAX_UNREAD_BYTES = STREAM_WINDOW_INCREMENT * RELAY_DATA_MAX;

/** The flow control of a stream on a hop whose handshake negotiated `negotiated`. */
export function streamFlowControlFor(negotiated: NegotiatedParameters, io: StreamFlowIo): StreamFlowControl {
  // XON/XOFF (proposal 344) plugs in here: chosen when `negotiated` carries congestion control (FlowCtrl=2).
  return new FixedStreamWindows(io);
}

/**
 * tor's fixed stream windows (tor-spec "Flow control"): a package window of 500 DATA cells, +50
 * per stream SENDME, and a deliver window the same size. The SENDME that lets the peer send 50
 * more goes only once the reader has drained what is queued, so a slow reader slows the sender
 * down instead of growing memory. Stream SENDMEs stay unauthenticated (v0, empty): proposal 289
 * covers the circuit level only.
 */
export class FixedStreamWindows implements StreamFlowControl {
  private packageWindow = STREAM_WINDOW_START;
  private deliverWindow = STREAM_WINDOW_START;
  private waiters: (() => void)[] = [];

  constructor(private readonly io: StreamFlowIo) {}

  get canSend(): boolean {
    return this.packageWindow > 0;
  }

  whenCanSend(): Promise<void> {
    if (this.packageWindow > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  dataSent(): void {
    this.packageWindow--;
  }

  sendmeReceived(): void {
    this.packageWindow += STREAM_WINDOW_INCREMENT;
    if (this.packageWindow > STREAM_WINDOW_START) throw new ProtocolError(this.io.context, 'stream SENDME beyond the window');
    this.releaseWaiters();
  }

  dataReceived(): void {
    this.deliverWindow--;
    if (this.deliverWindow < 0) throw new ProtocolError(this.io.context, 'exit sent DATA beyond the stream window');
  }

  unreadChanged(unreadBytes: number): void {
    while (this.deliverWindow <= STREAM_WINDOW_START - STREAM_WINDOW_INCREMENT && unreadBytes < MAX_UNREAD_BYTES) {
      this.deliverWindow += STREAM_WINDOW_INCREMENT;
      this.io.send(new Sendme());
    }
  }

  close(): void {
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
