import { TelescopeError } from './errors.ts';
import type { Logger } from './log.ts';

/**
 * The safety net's one counter. A relay is exposed to anyone: no exception from one peer, stream
 * or circuit may end the process. Expected failures are TelescopeErrors (typed, with context) and
 * are handled where they happen. Anything else (a TypeError, a RangeError from a library, an
 * errno the code did not plan for) is a bug or a case nobody thought of: the catch site closes
 * only what failed (the circuit, the stream, the channel) and reports it here, and so does the
 * host's process-level net (uncaughtException / unhandledRejection).
 *
 * Each report is logged at warn with UNEXPECTED_ERROR_MARKER and the place it was caught, and
 * counted. The count is in the relay's heartbeat and shutdown lines: tests read it and fail when
 * it is not 0, so the net cannot quietly hide bugs.
 */

/** Every log line of an unexpected error starts with this, so operators and tests can find it. */
export const UNEXPECTED_ERROR_MARKER = 'UNEXPECTED ERROR';

/** The text the relay's status lines carry the count in: `unexpected errors caught: N`. */
export const UNEXPECTED_ERRORS_LABEL = 'unexpected errors caught';

/** Whether a thrown value is one of the core's own, expected failures. */
export function isExpectedError(e: unknown): e is TelescopeError {
  return e instanceof TelescopeError;
}

/** A thrown value as text, for a log line; never throws itself (a value's toString may). */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) {
      // The stack's first frames say where; the rest is noise in a log line.
      const stack = typeof e.stack === 'string' ? e.stack.split('\n').slice(0, 6).join(' | ') : '';
      return stack.length > 0 ? stack : `${e.name}: ${e.message}`;
    }
    return String(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

export class UnexpectedErrors {
  private caught = 0;

  constructor(private readonly log: Logger) {}

  /** How many unexpected errors were caught since start. */
  get count(): number {
    return this.caught;
  }

  /** Count and log an unexpected error; `where` says what was closed because of it. */
  record(where: string, error: unknown): void {
    this.caught++;
    try {
      this.log.warn(`${UNEXPECTED_ERROR_MARKER} caught in ${where} (${UNEXPECTED_ERRORS_LABEL}: ${this.caught}): ${describeThrown(error)}`);
    } catch {
      // A logger that throws must not turn one caught error into another.
    }
  }

  /** `unexpected errors caught: N`, for status lines. */
  summary(): string {
    return `${UNEXPECTED_ERRORS_LABEL}: ${this.caught}`;
  }
}

/** Read the count back out of a relay's output (its last status line); undefined if none. */
export function unexpectedErrorsIn(output: string): number | undefined {
  const all = [...output.matchAll(new RegExp(`${UNEXPECTED_ERRORS_LABEL}: (\\d+)`, 'g'))];
  const last = all[all.length - 1];
  return last ? Number(last[1]) : undefined;
}
