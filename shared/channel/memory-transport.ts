import { UsageError } from '../util/index.ts';
import type { ByteTransport } from './transport.ts';

/**
 * Two in-memory ByteTransports joined back to back, for tests of channels, circuits and relays
 * without sockets (Node and browser alike). What one side sends reaches the other side's onData
 * in a later macrotask, as a real socket's data does, never re-entrantly inside send(); bytes sent
 * in the same turn are delivered together, re-cut into chunks of random sizes (from a seeded
 * generator, so a failure can be replayed) or, with `chunking: 'whole'`, as one chunk. That
 * shakes out framing bugs: cells split across chunks, several cells (of different handshake
 * phases) in one chunk.
 *
 * Like a socket's, a sender's bufferedAmount counts what the receiving side has not taken yet,
 * and onDrain fires when the receiver took it: pausing one side (a peer that does not read) makes
 * the other side's buffer grow, which is how tests model backpressure.
 */

export interface MemoryTransportOptions {
  /** How delivered bytes are cut: random chunk sizes (default) or everything of one turn in one chunk. */
  readonly chunking?: 'random' | 'whole';
  /** Largest random chunk, in bytes (default 700: sometimes more than a cell, sometimes less). */
  readonly maxChunk?: number;
  /** Seed of the chunk-size generator. */
  readonly seed?: number;
}

export class MemoryTransport implements ByteTransport {
  onData: ((data: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;
  /** Every send() call's bytes, in order (copies). */
  readonly sent: Uint8Array[] = [];
  /** Number of pause()/resume() calls, for tests of throttling. */
  pauses = 0;
  resumes = 0;
  private peer: MemoryTransport | undefined;
  /** Bytes the peer sent that we have not delivered yet. */
  private inbox: Uint8Array[] = [];
  /** Bytes in the inbox: the peer's bufferedAmount. */
  private inboxBytes = 0;
  private deliveryScheduled = false;
  private paused = false;
  private closing = false;
  /** Closed by this side: what is still in the inbox is dropped, as a closed socket reads nothing. */
  private closedHere = false;
  private closeNotified = false;
  private pendingCloseError: Error | undefined;
  private nextRandom: () => number;

  constructor(readonly description: string, private readonly opts: MemoryTransportOptions = {}) {
    this.nextRandom = mulberry32(opts.seed ?? 1);
  }

  /** Join two transports. */
  static pair(opts: MemoryTransportOptions & { seedB?: number } = {}): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport('memory A', opts);
    const b = new MemoryTransport('memory B', { ...opts, seed: opts.seedB ?? (opts.seed ?? 1) + 1 });
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** How many times send() was called (a channel batches the cells of one turn into one call). */
  get sendCalls(): number {
    return this.sent.length;
  }

  get isClosed(): boolean {
    return this.closing;
  }

  /** Bytes sent that the peer has not taken yet (it is paused, or delivery is still scheduled). */
  get bufferedAmount(): number {
    return this.closing ? 0 : (this.peer?.inboxBytes ?? 0);
  }

  /** Whether pause() is in force (a peer "not reading"). */
  get isPaused(): boolean {
    return this.paused;
  }

  send(data: Uint8Array): void {
    if (!this.peer) throw new UsageError('memory transport is not paired');
    this.sent.push(data.slice());
    if (this.closing) return; // like a socket: writes after close go nowhere
    this.peer.enqueue(data.slice());
  }

  close(): void {
    this.fail(undefined);
  }

  /** Break the connection with an error: both sides see onClose(error) (like a reset). */
  fail(error: Error | undefined): void {
    if (this.closing) return;
    this.closing = true;
    this.closedHere = true;
    this.inbox = [];
    this.inboxBytes = 0;
    this.pendingCloseError = error;
    this.scheduleDelivery();
    this.peer?.remoteClosed(error);
  }

  pause(): void {
    this.pauses++;
    this.paused = true;
  }

  resume(): void {
    this.resumes++;
    this.paused = false;
    this.scheduleDelivery();
  }

  private remoteClosed(error: Error | undefined): void {
    if (this.closing) return;
    this.closing = true;
    this.pendingCloseError = error;
    // Whatever the peer sent before closing still arrives first.
    this.scheduleDelivery();
  }

  private enqueue(data: Uint8Array): void {
    if (this.closing) return;
    this.inbox.push(data);
    this.inboxBytes += data.length;
    this.scheduleDelivery();
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    setTimeout(() => this.deliver(), 0);
  }

  private deliver(): void {
    this.deliveryScheduled = false;
    const before = this.inboxBytes;
    if (!this.closedHere && !this.paused) this.deliverInbox();
    this.inboxBytes = this.inbox.reduce((n, p) => n + p.length, 0);
    // What we took off the inbox no longer counts in the sender's buffer.
    if (this.inboxBytes < before && !this.closing) this.peer?.onDrain?.();
    if (this.closing && !this.closeNotified && (this.closedHere || this.inbox.length === 0)) {
      this.closeNotified = true;
      this.onClose?.(this.pendingCloseError);
    }
  }

  private deliverInbox(): void {
    const parts = this.inbox;
    this.inbox = [];
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total > 0) {
      const all = new Uint8Array(total);
      let pos = 0;
      for (const p of parts) {
        all.set(p, pos);
        pos += p.length;
      }
      for (let at = 0; at < all.length; ) {
        if (this.paused) {
          // Keep the rest for after resume(), in order.
          this.inbox.unshift(all.slice(at));
          return;
        }
        const size = this.opts.chunking === 'whole' ? all.length : 1 + Math.floor(this.nextRandom() * (this.opts.maxChunk ?? 700));
        const chunk = all.slice(at, at + size);
        at += chunk.length;
        this.onData?.(chunk);
        if (this.closedHere) return; // closed by the receiver while it handled the chunk
      }
    }
  }
}

/** A small seeded PRNG (mulberry32): reproducible chunk sizes. */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
