/**
 * Documents that must pass checks before anything acts on them, as in Arti's tor-checkable: a
 * certificate or a consensus is parsed into an Unverified (its signatures not yet checked), whose
 * check(...) yields the checked document or throws the document's own typed error; what is valid
 * only for a while comes out as a Timebound, whose checkValidAt(now) yields the value inside its
 * window. The checked type is reachable only through these, so a document cannot be acted on with
 * a check forgotten, and no document needs an "unverified" and a "verified" class restating the
 * same fields.
 */

/**
 * A parsed document and what checking it needs, its checks not yet run. `unchecked` shows what
 * was parsed, typed as the parsed fields rather than the checked document: for choosing how to
 * check it (which key or certificate to ask for) and for logs, never to act on.
 */
export class Unverified<T, Args extends readonly unknown[] = [], Parsed = T> {
  readonly #parsed: Parsed;
  readonly #check: (parsed: Parsed, ...args: Args) => T;

  constructor(parsed: Parsed, check: (parsed: Parsed, ...args: Args) => T) {
    this.#parsed = parsed;
    this.#check = check;
  }

  /** What was parsed, before any check. */
  get unchecked(): Parsed {
    return this.#parsed;
  }

  /** Runs the document's checks: the checked document, or the check's own error. */
  check(...args: Args): T {
    return this.#check(this.#parsed, ...args);
  }
}

/** Which side of its validity window a time fell on. */
export type OutsideWindow = 'not-yet-valid' | 'expired';

/**
 * A value good only between notBefore and notAfter (either may be absent), as Arti's
 * TimerangeBound: checkValidAt(now) gives it inside the window and throws the error the document
 * names (`outside`) otherwise.
 */
export class Timebound<T> {
  readonly #value: T;
  readonly #outside: (side: OutsideWindow, now: Date) => Error;
  readonly notBefore: Date | undefined;
  readonly notAfter: Date | undefined;

  constructor(
    value: T,
    bounds: { readonly notBefore?: Date; readonly notAfter?: Date },
    outside: (side: OutsideWindow, now: Date) => Error,
  ) {
    this.#value = value;
    this.#outside = outside;
    this.notBefore = bounds.notBefore;
    this.notAfter = bounds.notAfter;
  }

  /** Where `now` falls: inside the window widened by skewMs on both ends, or on which side of it. */
  placeOf(now: Date, skewMs = 0): OutsideWindow | 'valid' {
    const t = now.getTime();
    if (this.notBefore !== undefined && t < this.notBefore.getTime() - skewMs) return 'not-yet-valid';
    if (this.notAfter !== undefined && t > this.notAfter.getTime() + skewMs) return 'expired';
    return 'valid';
  }

  /** Whether notBefore - skewMs <= now <= notAfter + skewMs. */
  isValidAt(now: Date, skewMs = 0): boolean {
    return this.placeOf(now, skewMs) === 'valid';
  }

  /** The value if `now` is inside the window (within skewMs); otherwise the document's error. */
  checkValidAt(now: Date, skewMs = 0): T {
    const place = this.placeOf(now, skewMs);
    if (place !== 'valid') throw this.#outside(place, now);
    return this.#value;
  }

  /**
   * The value without looking at the clock: for a caller that checks the window itself later, or
   * that reads back what it issued. The name says what is skipped.
   */
  dangerouslyAssumeTimely(): T {
    return this.#value;
  }
}
