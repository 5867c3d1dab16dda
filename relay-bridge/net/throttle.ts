import type { ByteTransport } from '../../shared/channel/index.ts';
import type { RateLimiter } from '../../shared/util/index.ts';

/**
 * BandwidthRate / BandwidthBurst for everything a relay reads (tor-spec's token buckets, one
 * relay-wide read bucket shared by every connection): a connection whose bytes exceed the budget
 * is paused until the bucket refills, so the relay forwards at most what the operator allows.
 * Reading is what is limited; what a relay writes is what it read, so that is bounded too.
 *
 * The channel above may pause reading too (its peer does not read what it is sent): the inner
 * transport reads again only when neither the budget nor the channel holds it back.
 */
export class ThrottledTransport implements ByteTransport {
  onData: ((data: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** The limiter was closed (the relay is shutting down): nothing more is delivered. */
  private failed = false;
  private closeReported = false;
  /** Chunks waiting for tokens (the inner transport is paused while there are any). */
  private waitingForTokens = 0;
  /** pause() from the channel above is in force. */
  private pausedByReader = false;

  constructor(readonly inner: ByteTransport, private readonly read: RateLimiter) {
    inner.onData = (data) => this.arrive(data);
    // What the peer sent before closing is still delivered, in order and paid for (its last cells
    // may be a DESTROY or an END that matter), and only then the close.
    inner.onClose = (error) => {
      this.queue = this.queue.then(() => this.reportClose(error));
    };
  }

  private reportClose(error?: Error): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.onClose?.(error);
  }

  private get delivering(): boolean {
    return !this.failed && !this.closeReported;
  }

  get description(): string {
    return this.inner.description;
  }

  get bufferedAmount(): number | undefined {
    return this.inner.bufferedAmount;
  }

  get peerCertificate(): Uint8Array | undefined {
    return this.inner.peerCertificate;
  }

  get onDrain(): (() => void) | undefined {
    return this.inner.onDrain;
  }

  set onDrain(fn: (() => void) | undefined) {
    this.inner.onDrain = fn;
  }

  pause(): void {
    this.pausedByReader = true;
    this.inner.pause?.();
  }

  resume(): void {
    this.pausedByReader = false;
    if (this.waitingForTokens === 0) this.inner.resume?.();
  }

  private arrive(data: Uint8Array): void {
    // A chunk larger than the burst is never granted at once: it takes the slow path, which pays
    // for every byte in burst-sized pieces.
    if (this.read.tryAcquire(data.length)) {
      this.queue = this.queue.then(() => { if (this.delivering) this.onData?.(data); });
      return;
    }
    // Over budget: stop reading, wait for the tokens, deliver in order, read on (unless the
    // channel has paused reading meanwhile).
    this.waitingForTokens++;
    this.inner.pause?.();
    this.queue = this.queue.then(async () => {
      for (let need = data.length; need > 0 && !this.failed; ) need -= await this.read.acquire(need);
      if (this.delivering) this.onData?.(data);
      if (--this.waitingForTokens === 0 && !this.pausedByReader) this.inner.resume?.();
    }).catch((e: unknown) => {
      // The limiter was closed (the relay is shutting down): this connection goes with it.
      this.failed = true;
      this.inner.close();
      if (!(e instanceof Error)) throw e;
    });
  }

  send(data: Uint8Array): void {
    this.inner.send(data);
  }

  close(): void {
    this.inner.close();
  }
}
