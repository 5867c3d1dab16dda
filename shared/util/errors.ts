/**
 * Typed errors for the protocol core. Every failure the core reports is one of these, carrying
 * enough context (what was being parsed or checked, and where) for a reader of a log to act on it.
 * Parsers never let a RangeError or TypeError escape on hostile input: they raise ProtocolError.
 *
 * Messages are for people and logs; code decides on `kind` and the structured fields beside it
 * (`peer`, `phase`, `document`, validity times), never on the words: a reworded message must not
 * change what a program does with the error (the popup's advice, a retry, a page's title).
 */

/**
 * What went wrong, as a closed set a program can switch on (as Arti's ErrorKind). Each error
 * class has a default kind; a throw site passes another one where the difference matters.
 */
export type ErrorKind =
  /** Bytes or messages that break the protocol: truncated, too long, bad value, bad state. */
  | 'protocol-violation'
  /** Relay-cell crypto rejected a cell (digest mismatch, or no hop recognized it). */
  | 'relay-cell-rejected'
  /** A cryptographic handshake (link, ntor, CREATE_FAST, hs-ntor, TLS) did not verify. */
  | 'handshake-failed'
  /** A certificate or signed document that is malformed or signed by the wrong key. */
  | 'certificate-invalid'
  /** A certificate or signed document whose validity ended before `now` (see `validUntil`). */
  | 'certificate-expired'
  /** A certificate or signed document whose validity starts after `now` (see `validAfter`). */
  | 'certificate-not-yet-valid'
  /** A consensus that too few of the configured authorities signed. */
  | 'not-enough-signatures'
  /** A consensus requires subprotocols this build does not implement: it must not use the network. */
  | 'protocols-missing'
  /** A link to a relay could not be opened, or was lost (`phase` says when). */
  | 'channel-failed'
  /** A circuit was destroyed, truncated or could not be built. */
  | 'circuit-failed'
  /** A stream was refused or closed by its exit, or its circuit died. */
  | 'stream-failed'
  /** A directory request was answered with an HTTP error. */
  | 'directory-request-failed'
  /** No path through the network satisfies the rules (too few usable relays). */
  | 'no-path'
  /** No directory source of the network answered a first bootstrap (no network, or Tor blocked). */
  | 'network-unreachable'
  /** An operation did not finish in time. */
  | 'timeout'
  /** Something waited for was cancelled by its owner (a closed rate limiter). */
  | 'cancelled'
  /** Configuration a person wrote (torrc, settings) is wrong. */
  | 'config'
  /** An API used wrongly by its caller: a bug in the host, not bad network input. */
  | 'usage'
  /** A string that is not a valid v3 onion address. */
  | 'onion-address-invalid'
  /** No HSDir has the onion service's descriptor. */
  | 'onion-service-not-found'
  /** The descriptor found is not one we can use (bad, stale, or not for this address). */
  | 'onion-service-descriptor-invalid'
  /** The service requires client authorization and we have no key for it. */
  | 'onion-service-missing-client-auth'
  /** Our client authorization key is not one the service accepts. */
  | 'onion-service-wrong-client-auth'
  /** The service publishes no introduction points, or none answers. */
  | 'onion-service-not-running'
  /** Introduction or rendezvous failed after the descriptor was fine. */
  | 'onion-service-connection-failed'
  /** Anything else (host-specific failures). */
  | 'other';

/** Where in reaching a relay it failed: opening the transport, or the link handshake over it. */
export type ErrorPhase = 'connect' | 'link-handshake';

/** Signed directory documents whose validity the bootstrap checks against our clock. */
export type DirectoryDocument = 'consensus' | 'authority-certificate';

/** What a throw site knows besides the message. All optional; `kind` overrides the class default. */
export interface ErrorDetails {
  readonly cause?: unknown;
  readonly kind?: ErrorKind;
  /** The peer as we dialled it: a WebSocket URL or ADDRESS:PORT (a transport's description). */
  readonly peer?: string;
  readonly phase?: ErrorPhase;
  readonly document?: DirectoryDocument;
  /** The validity window of what was checked, and the time it was checked at. */
  readonly validAfter?: Date;
  readonly validUntil?: Date;
  readonly now?: Date;
}

/** Base class: lets hosts tell Telescope's own failures from bugs (`instanceof TelescopeError`). */
export class TelescopeError extends Error {
  /** The kind of errors of this class unless the throw site says otherwise. */
  static readonly defaultKind: ErrorKind = 'other';

  readonly kind: ErrorKind;
  readonly peer: string | undefined;
  readonly phase: ErrorPhase | undefined;
  readonly document: DirectoryDocument | undefined;
  readonly validAfter: Date | undefined;
  readonly validUntil: Date | undefined;
  readonly now: Date | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    // Only a given cause becomes `cause` (an explicit `cause: undefined` is kept, as Error does).
    super(message, 'cause' in details ? { cause: details.cause } : undefined);
    this.name = new.target.name;
    this.kind = details.kind ?? (new.target as typeof TelescopeError).defaultKind;
    this.peer = details.peer;
    this.phase = details.phase;
    this.document = details.document;
    this.validAfter = details.validAfter;
    this.validUntil = details.validUntil;
    this.now = details.now;
  }
}

/** Bytes on the wire that do not follow the protocol: truncated, too long, bad value, bad state. */
export class ProtocolError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'protocol-violation';
  /** What was being decoded or processed when it failed, e.g. "CERTS cell" or "relay header". */
  readonly context: string;
  /** What is wrong, without the context and the offset (for a caller that words them itself). */
  readonly detail: string;
  /** Byte offset into the input being decoded, when known. */
  readonly offset: number | undefined;
  constructor(context: string, detail: string, offset?: number, details?: ErrorDetails) {
    super(`${context}: ${detail}${offset === undefined ? '' : ` (at byte ${offset})`}`, details);
    this.context = context;
    this.detail = detail;
    this.offset = offset;
  }
}

/** A cryptographic handshake (ntor, CREATE_FAST, link authentication) that did not verify. */
export class HandshakeError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'handshake-failed';
  readonly handshake: string;
  constructor(handshake: string, detail: string, details?: ErrorDetails) {
    super(`${handshake} handshake failed: ${detail}`, details);
    this.handshake = handshake;
  }
}

/** A certificate or certificate chain that is malformed, expired, or signed by the wrong key. */
export class CertificateError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'certificate-invalid';
  readonly certificate: string;
  constructor(certificate: string, detail: string, details?: ErrorDetails) {
    super(`${certificate}: ${detail}`, details);
    this.certificate = certificate;
  }
}

/** Relay-cell crypto rejected a cell: digest mismatch, or no hop recognized an inbound cell. */
export class RelayCryptoError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'relay-cell-rejected';
}

/** An API of the core used wrongly by its caller (a bug in the host, not bad network input). */
export class UsageError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'usage';
}

/** A channel (a link to one relay) failed or was closed; everything on it is gone. */
export class ChannelError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'channel-failed';
}

/** A circuit was destroyed, truncated or could not be built. `reason` is a DestroyReason when known. */
export class CircuitError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'circuit-failed';
  readonly reason: number | undefined;
  constructor(message: string, reason?: number, details?: ErrorDetails) {
    super(message, details);
    this.reason = reason;
  }
}

/** A stream was refused or closed by its exit (`reason` is an EndReason), or its circuit died. */
export class StreamError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'stream-failed';
  readonly reason: number | undefined;
  constructor(message: string, reason?: number, details?: ErrorDetails) {
    super(message, details);
    this.reason = reason;
  }
}

/** An operation did not finish in time (a circuit build, a directory fetch, a handshake). */
export class TimeoutError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'timeout';
}

/** What a first contact with the network tried, for NetworkUnreachableError. */
export interface FirstContactReport {
  /** Sources tried, by kind. */
  readonly tried: { readonly fallbacks: number; readonly authorities: number };
  /** Sources there were, by kind. */
  readonly total: { readonly fallbacks: number; readonly authorities: number };
  /** How the attempts ended ("connection failed": 3, "timed out": 1, ...). */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Why it stopped ("every one failed", "none answered within 30 s"). */
  readonly why: string;
  /** The first attempt's failure. */
  readonly cause?: unknown;
}

/**
 * No directory source answered a bootstrap's first contact: the fallbacks and authorities tried,
 * counted (not listed: a person needs to know it was the network, not which of 200 mirrors).
 */
export class NetworkUnreachableError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'network-unreachable';
  readonly tried: FirstContactReport['tried'];
  readonly total: FirstContactReport['total'];
  readonly outcomes: FirstContactReport['outcomes'];

  constructor(report: FirstContactReport) {
    const count = (n: number, of: number, one: string, many: string): string => `${n} of ${of} ${of === 1 ? one : many}`;
    const parts = [
      ...(report.total.fallbacks > 0 ? [count(report.tried.fallbacks, report.total.fallbacks, 'fallback directory', 'fallback directories')] : []),
      ...(report.total.authorities > 0 ? [count(report.tried.authorities, report.total.authorities, 'directory authority', 'directory authorities')] : []),
    ];
    const outcomes = Object.entries(report.outcomes).map(([k, n]) => `${n} ${k}`).join(', ');
    super(`cannot reach the Tor network: tried ${parts.join(' and ') || 'no directory source'}; ${report.why}${outcomes ? ` (${outcomes})` : ''}`, 'cause' in report ? { cause: report.cause } : {});
    this.tried = report.tried;
    this.total = report.total;
    this.outcomes = report.outcomes;
  }
}
