import type { Introduce2 } from '../cells/index.ts';
import type { NtorKeyPair } from '../crypto/index.ts';
import { HandshakeError, TelescopeError, UsageError, TokenBucket } from '../util/index.ts';
import type { HsNtorServicePending } from './hs-ntor.ts';
import { openIntroduce2, type IntroducePlaintext } from './introduce.ts';
import { ReplayCache } from './replay-cache.ts';

export type IntroductionVerdict =
  | { readonly kind: 'accepted'; readonly plaintext: IntroducePlaintext; readonly pending: HsNtorServicePending }
  | { readonly kind: 'replay' | 'rate-limited' | 'busy' | 'undecryptable' | 'unusable'; readonly detail: string };

/** An introduction point's keys as the service holds them, with its replay cache. */
export interface IntroductionPointKeys {
  readonly authKey: Uint8Array;
  readonly encKeyPair: NtorKeyPair;
  readonly replay: ReplayCache;
}

/**
 * What an INTRODUCE2 must get past before the service spends a circuit on it: the replay cache
 * (a cheap hash, first, so replays cost no token), then the token bucket and the number of
 * rendezvous circuits already being built (the expensive part of a flood), then hs-ntor with each
 * subcredential the service has published under. Only an accepted introduction enters the cache,
 * so garbage cannot pre-empt a real request.
 */
export class IntroductionGate {
  private readonly bucket: TokenBucket;
  private inFlight = 0;

  constructor(private readonly opts: { readonly rate: number; readonly burst: number; readonly maxPending: number; readonly now?: () => number }) {
    if (!Number.isSafeInteger(opts.maxPending) || opts.maxPending < 1) throw new UsageError(`maxPending must be a positive integer, not ${opts.maxPending}`);
    this.bucket = new TokenBucket({ rate: opts.rate, burst: opts.burst, ...(opts.now ? { now: opts.now } : {}) });
  }

  /** Rendezvous under way (accepted and not yet `done`). */
  get pending(): number {
    return this.inFlight;
  }

  admit(point: IntroductionPointKeys, msg: Introduce2, subcredentials: readonly Uint8Array[]): IntroductionVerdict {
    const key = ReplayCache.keyOf(msg.encrypted);
    if (point.replay.has(key)) return { kind: 'replay', detail: 'this INTRODUCE2 was seen before' };
    if (this.inFlight >= this.opts.maxPending) return { kind: 'busy', detail: `${this.inFlight} rendezvous already under way` };
    if (!this.bucket.tryTake(1)) return { kind: 'rate-limited', detail: 'introduction rate limit reached' };
    for (const sc of subcredentials) {
      let opened: ReturnType<typeof openIntroduce2>;
      try {
        opened = openIntroduce2({ authKey: point.authKey, encKeyPair: point.encKeyPair, subcredential: sc }, msg);
      } catch (e) {
        if (e instanceof HandshakeError) continue; // another period's subcredential, perhaps
        if (!(e instanceof TelescopeError)) throw e;
        return { kind: 'unusable', detail: e.message };
      }
      if (!point.replay.add(key)) return { kind: 'busy', detail: 'the introduction point\'s replay cache is full' };
      this.inFlight++;
      return { kind: 'accepted', plaintext: opened.plaintext, pending: opened.pending };
    }
    return { kind: 'undecryptable', detail: `does not decrypt with any of ${subcredentials.length} subcredential(s)` };
  }

  /** An accepted introduction's rendezvous finished (either way). */
  done(): void {
    if (this.inFlight > 0) this.inFlight--;
  }
}
