/**
 * Typed errors for the protocol core. Every failure the core reports is one of these, carrying
 * enough context (what was being parsed or checked, and where) for a reader of a log to act on it.
 * Parsers never let a RangeError or TypeError escape on hostile input: they raise ProtocolError.
 */

/** Base class: lets hosts tell Telescope's own failures from bugs (`instanceof TelescopeError`). */
export class TelescopeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bytes on the wire that do not follow the protocol: truncated, too long, bad value, bad state. */
export class ProtocolError extends TelescopeError {
  /** What was being decoded or processed when it failed, e.g. "CERTS cell" or "relay header". */
  readonly context: string;
  /** Byte offset into the input being decoded, when known. */
  readonly offset: number | undefined;
  constructor(context: string, detail: string, offset?: number, options?: { cause?: unknown }) {
    super(`${context}: ${detail}${offset === undefined ? '' : ` (at byte ${offset})`}`, options);
    this.context = context;
    this.offset = offset;
  }
}

/** A cryptographic handshake (ntor, CREATE_FAST, link authentication) that did not verify. */
export class HandshakeError extends TelescopeError {
  readonly handshake: string;
  constructor(handshake: string, detail: string, options?: { cause?: unknown }) {
    super(`${handshake} handshake failed: ${detail}`, options);
    this.handshake = handshake;
  }
}

/** A certificate or certificate chain that is malformed, expired, or signed by the wrong key. */
export class CertificateError extends TelescopeError {
  readonly certificate: string;
  constructor(certificate: string, detail: string, options?: { cause?: unknown }) {
    super(`${certificate}: ${detail}`, options);
    this.certificate = certificate;
  }
}

/** Relay-cell crypto rejected a cell: digest mismatch, or no hop recognized an inbound cell. */
export class RelayCryptoError extends TelescopeError {}

/** An API of the core used wrongly by its caller (a bug in the host, not bad network input). */
export class UsageError extends TelescopeError {}

/** A channel (a link to one relay) failed or was closed; everything on it is gone. */
export class ChannelError extends TelescopeError {}

/** A circuit was destroyed, truncated or could not be built. `reason` is a DestroyReason when known. */
export class CircuitError extends TelescopeError {
  readonly reason: number | undefined;
  constructor(message: string, reason?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** A stream was refused or closed by its exit (`reason` is an EndReason), or its circuit died. */
export class StreamError extends TelescopeError {
  readonly reason: number | undefined;
  constructor(message: string, reason?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** An operation did not finish in time (a circuit build, a directory fetch, a handshake). */
export class TimeoutError extends TelescopeError {}
