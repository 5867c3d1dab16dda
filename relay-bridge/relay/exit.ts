/**
 * What an exit does with a BEGIN or a RESOLVE (tor-spec "Opening streams and transferring data",
 * "Remote hostname lookup", "Closing streams"). The rules the spec leaves open follow tor 0.4.8/0.4.9
 * (connection_edge.c: connection_exit_begin_conn, connection_exit_connect; dns.c:
 * dns_resolve_impl, set_exitconn_info_from_resolve, send_resolved_cell; reasons.c:
 * errno_to_stream_end_reason), so a tor client sees the answers it would get from a tor exit:
 *
 * - Port 0 is a protocol violation: END TORPROTOCOL.
 * - Without IPv6 exit, IPV6_PREFERRED is ignored and IPV4_NOT_OK cannot be served: END EXITPOLICY
 *   with no address (there is none yet).
 * - An IP literal is taken as it is (TTL 1800 s, tor's DEFAULT_DNS_TTL), even on a relay that is
 *   no exit: the exit policy then refuses it, with END EXITPOLICY carrying the address and TTL.
 * - A host name on a relay that is no exit is never looked up: END RESOLVEFAILED. So is a name
 *   with characters no DNS name has, and a reverse (.in-addr.arpa / .ip6.arpa) name in a BEGIN.
 * - A name is resolved here, on the exit; the BEGIN flags and the policy pick the IPv4 or the IPv6
 *   answer; the policy is checked on that address and port (END EXITPOLICY + address + TTL).
 * - Connecting back into the Tor network (when the host can tell) is refused with CONNECTREFUSED,
 *   as tor does, so clients do not retry it elsewhere.
 * - A failed connect maps its errno as tor does (ECONNREFUSED → CONNECTREFUSED, ETIMEDOUT →
 *   TIMEOUT, ENETUNREACH/EHOSTUNREACH/EACCES/EPERM → NOROUTE, ...); running out of time is TIMEOUT.
 * - CONNECTED carries the address connected to and a TTL; DNS TTLs are clipped to 300 or 3600 s
 *   and fuzzed by ±240 s as tor does (against DNS-based correlation, "DefectTor").
 * - The socket gets TCP_NODELAY: cells arrive in bursts and delayed ACKs would stall them.
 * - Relay-wide caps (ExitLimits: MaxExitSockets, MaxConcurrentDnsLookups): over one, a new stream
 *   gets END RESOURCELIMIT, as tor answers when it runs out of sockets. A lookup holds its slot
 *   until the resolver answers (getaddrinfo cannot be called back), a socket until it is closed.
 * - When the stream or its circuit is gone (`signal`), the lookup is no longer waited for and the
 *   connect is aborted: nothing is left open for a client that left.
 *
 * Three deliberate differences from tor, where tor's answer is an accident of its code rather than
 * a choice: a RESOLVE of an IP literal is answered with that address (tor answers an error, having
 * no cache entry to report); a BEGIN whose flags accept no family that the name resolved to gets
 * RESOLVEFAILED (tor would connect to the address the client said it cannot use); an IPv4-mapped
 * IPv6 address is treated as the IPv4 address it is (see canonical()).
 */
import * as net from 'node:net';
import { lookup as dnsLookup, reverse as dnsReverse } from 'node:dns/promises';
import { randomInt as cryptoRandomInt } from 'node:crypto';
import {
  Begin, BeginFlags, Connected, End, EndReason, Resolve, Resolved, ResolvedType, type ResolvedAnswer,
} from '../../shared/cells/index.ts';
import { StreamError, UsageError } from '../../shared/util/index.ts';
import { formatIp, ipFromBytes, isInternalAddress, parseIp, parsePtrName, unmapIpv4 } from '../../shared/addr/index.ts';
import type { ExitPolicy } from '../../shared/policy/index.ts';
import type { Logger } from '../../shared/util/index.ts';

/** tor (connection_edge.h): TTL for an answer that came without one, e.g. an IP literal. */
export const DEFAULT_DNS_TTL = 30 * 60;
/** tor clips every DNS TTL to one of two values... */
export const MIN_DNS_TTL = 5 * 60;
export const MAX_DNS_TTL = 60 * 60;
/** ...then an exit moves it by up to this much either way, at random. */
export const FUZZY_DNS_TTL = 4 * 60;

/** Default time for resolving and connecting together. */
export const DEFAULT_EXIT_TIMEOUT_MS = 60_000;

/** One address a name resolves to. `ttl` in seconds, when the resolver knows it. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
  readonly ttl?: number;
}

/** Forward lookup; fails with an Error whose `code` is a node:dns code (ENOTFOUND, EAI_AGAIN, ...). */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;
/** Reverse lookup (PTR): host names for an address. */
export type ReverseResolver = (address: string) => Promise<string[]>;
/**
 * Opens a TCP connection; fails with an Error whose `code` is an errno name (ECONNREFUSED, ...).
 * The signal fires when the exit gives up (timeout or cancel): the connector should stop then.
 */
export type Connector = (address: string, port: number, bindAddress: string | undefined, signal: AbortSignal) => Promise<net.Socket>;

export interface ResolveOptions {
  /** Relay-wide caps on exit sockets and DNS lookups; none without. */
  readonly limits?: ExitLimits;
  /** Whether this relay exits at all; a relay that is none looks up no names. */
  readonly isExit: boolean;
  /** The relay's effective exit policy (RelayConfig.exitPolicy); only consulted for IPv6 here. */
  readonly policy?: ExitPolicy;
  /** IPv6Exit: default is whether the policy lets any IPv6 address through. */
  readonly ipv6Exit?: boolean;
  /** Default: node:dns lookup (the system resolver, /etc/hosts included). */
  readonly resolve?: Resolver;
  /** Default: node:dns reverse. */
  readonly reverse?: ReverseResolver;
  /** For resolving and connecting together; default DEFAULT_EXIT_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Fires when the stream is gone (client END, circuit destroyed): stop and close everything. */
  readonly signal?: AbortSignal;
  /** Uniform integer in [0, max): for the TTL fuzz. Default node:crypto randomInt. */
  readonly randomInt?: (max: number) => number;
  /** Failures are logged at info, without any address (tor's SafeLogging). */
  readonly log?: Logger;
}

export interface ExitOptions extends ResolveOptions {
  readonly policy: ExitPolicy;
  /** OutboundBindAddress: one address (used for destinations of its family) or one per family. */
  readonly bindAddress?: string | { readonly ipv4?: string; readonly ipv6?: string };
  /** Default: node:net connect. */
  readonly connect?: Connector;
  /** True for an address:port of a known relay (tor's network re-entry check); refused then. */
  readonly isRelayAddress?: (address: string, port: number) => boolean;
  /** The relay is shutting down or out of bandwidth: refuse new streams (END HIBERNATING). */
  readonly hibernating?: boolean;
}

export type ExitResult =
  | { readonly ok: true; readonly socket: net.Socket; readonly connected: Connected }
  | { readonly ok: false; readonly end: End };

// ---------------------------------------------------------------------------------------------
// Relay-wide caps
// ---------------------------------------------------------------------------------------------

export const DEFAULT_MAX_EXIT_SOCKETS = 4096;
export const DEFAULT_MAX_CONCURRENT_DNS_LOOKUPS = 64;

/**
 * What all exit streams together may hold: sockets open or being opened, and DNS lookups in
 * flight. Slots are taken with tryX(), which gives the release function or undefined when full.
 */
export class ExitLimits {
  private openSockets = 0;
  private pendingLookups = 0;

  constructor(
    readonly maxSockets = DEFAULT_MAX_EXIT_SOCKETS,
    readonly maxLookups = DEFAULT_MAX_CONCURRENT_DNS_LOOKUPS,
  ) {
    for (const [name, v] of [['maxSockets', maxSockets], ['maxLookups', maxLookups]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new UsageError(`ExitLimits ${name} must be a positive integer, not ${v}`);
    }
  }

  get sockets(): number {
    return this.openSockets;
  }

  get lookups(): number {
    return this.pendingLookups;
  }

  trySocket(): (() => void) | undefined {
    if (this.openSockets >= this.maxSockets) return undefined;
    this.openSockets++;
    return once(() => this.openSockets--);
  }

  tryLookup(): (() => void) | undefined {
    if (this.pendingLookups >= this.maxLookups) return undefined;
    this.pendingLookups++;
    return once(() => this.pendingLookups--);
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** Run `lookup` under a lookup slot, freed when it settles; undefined when there is no slot. */
function limitedLookup<T>(limits: ExitLimits | undefined, lookup: () => Promise<T>): Promise<T> | undefined {
  const release = limits ? limits.tryLookup() : () => {};
  if (!release) return undefined;
  let p: Promise<T>;
  try {
    p = Promise.resolve(lookup());
  } catch (e) {
    p = Promise.reject(e);
  }
  p.then(release, release);
  return p;
}

/** Free a socket slot once `socket` is closed (it may already be). */
function releaseOnClose(socket: net.Socket, release: () => void): void {
  if (socket.closed) release();
  else socket.once('close', release);
}

// ---------------------------------------------------------------------------------------------
// tor's tables
// ---------------------------------------------------------------------------------------------

/** tor's errno_to_stream_end_reason, keyed by Node's error codes (errno names). */
const ERRNO_END_REASON: ReadonlyMap<string, number> = new Map([
  ['EPIPE', EndReason.DONE],
  ...['EBADF', 'EFAULT', 'EINVAL', 'EISCONN', 'ENOTSOCK', 'EPROTONOSUPPORT', 'EAFNOSUPPORT', 'ENOTCONN'].map(
    (c) => [c, EndReason.INTERNAL] as const,
  ),
  ...['ENETUNREACH', 'EHOSTUNREACH', 'EACCES', 'EPERM'].map((c) => [c, EndReason.NOROUTE] as const),
  ['ECONNREFUSED', EndReason.CONNECTREFUSED],
  ['ECONNRESET', EndReason.CONNRESET],
  ['ETIMEDOUT', EndReason.TIMEOUT],
  ...['ENOBUFS', 'ENOMEM', 'ENFILE', 'EADDRINUSE', 'EADDRNOTAVAIL', 'EMFILE'].map((c) => [c, EndReason.RESOURCELIMIT] as const),
]);

/** The END reason tor sends for a socket error (unknown errors are MISC, as in tor). */
export function endReasonForError(error: unknown): number {
  const code = errorCode(error);
  return (code !== undefined ? ERRNO_END_REASON.get(code) : undefined) ?? EndReason.MISC;
}

/**
 * DNS failures that may go away on retry (tor's evdns_err_is_transient: server failure, truncated,
 * timeout), as node:dns names them. Everything else (no such name, no data) is permanent.
 */
const TRANSIENT_DNS: ReadonlySet<string> = new Set(['EAI_AGAIN', 'ESERVFAIL', 'ETIMEOUT', 'ETIMEDOUT', 'ECONNREFUSED', 'ECANCELLED', 'EREFUSED']);

export function isTransientDnsError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && TRANSIENT_DNS.has(code);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** tor's clip_dns_ttl: only two values leave an exit, so a TTL says little about the name. */
export function clipDnsTtl(ttl: number): number {
  return ttl < MIN_DNS_TTL ? MIN_DNS_TTL : MAX_DNS_TTL;
}

/** tor's clip_dns_fuzzy_ttl: clipped, then moved uniformly within ±FUZZY_DNS_TTL. */
export function fuzzyDnsTtl(ttl: number, randomInt: (max: number) => number = cryptoRandomInt): number {
  return clipDnsTtl(ttl) + randomInt(2 * FUZZY_DNS_TTL + 1) - FUZZY_DNS_TTL;
}

/**
 * tor's address_is_invalid_destination for exits: a name of letters, digits, '-', '.', '_' (the
 * underscore is not legal DNS, but real names carry it), or an IP literal.
 */
function isValidDestination(host: string): boolean {
  return host.length > 0 && host.length <= 255 && (/^[A-Za-z0-9._-]+$/.test(host) || parseIp(host) !== undefined);
}

/**
 * An address as the exit treats it: an IPv4-mapped IPv6 address is its IPv4 address, for the
 * policy, the bind address and the connection alike. tor compares policy addresses exactly, so on
 * a dual-stack host "reject 10.0.0.0/8" would not stop ::ffff:10.0.0.1 (only "reject private"'s
 * [::]/8 happens to); here a rule for an IPv4 network covers its mapped form too.
 */
function canonical(bytes: Uint8Array): { family: 4 | 6; bytes: Uint8Array; text: string } {
  const ip = unmapIpv4(ipFromBytes(bytes));
  return { family: ip.family, bytes: ip.bytes, text: formatIp(ip) };
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

const defaultResolve: Resolver = async (host) => {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers
    .filter((a) => a.family === 4 || a.family === 6)
    .map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
};

const defaultReverse: ReverseResolver = (address) => dnsReverse(address);

/** node:net connect; resolves once the TCP handshake is done. */
export const defaultConnect: Connector = (address, port, bindAddress, signal) =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ host: address, port, ...(bindAddress !== undefined ? { localAddress: bindAddress } : {}) });
    const cleanup = (): void => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (e: Error): void => {
      cleanup();
      socket.destroy();
      reject(e);
    };
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(signal.reason);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });

// ---------------------------------------------------------------------------------------------
// Deadlines and cancellation
// ---------------------------------------------------------------------------------------------

/** Why a step was given up: the caller's signal, or the exit's own deadline. */
class GaveUp {
  constructor(readonly why: 'cancelled' | 'timeout') {}
}

/** One deadline for a whole request, and the caller's signal, as one AbortSignal for the steps. */
class Budget {
  readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly onCallerAbort: () => void;
  why: 'cancelled' | 'timeout' | undefined;

  constructor(timeoutMs: number, private readonly caller: AbortSignal | undefined) {
    this.timer = setTimeout(() => this.stop('timeout'), timeoutMs);
    this.onCallerAbort = () => this.stop('cancelled');
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (caller?.aborted) this.stop('cancelled');
  }

  private stop(why: 'cancelled' | 'timeout'): void {
    if (this.why !== undefined) return;
    this.why = why;
    this.controller.abort(new GaveUp(why));
  }

  /** The step's result, or GaveUp if the budget ran out or the caller cancelled first. */
  race<T>(step: Promise<T>, onLateResult?: (value: T) => void): Promise<T> {
    if (this.why !== undefined) {
      void step.then(onLateResult, () => {});
      return Promise.reject(new GaveUp(this.why));
    }
    return new Promise<T>((resolve, reject) => {
      const signal = this.controller.signal;
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        reject(new GaveUp(this.why ?? 'cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      step.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          if (settled) onLateResult?.(v);
          else {
            settled = true;
            resolve(v);
          }
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (!settled) {
            settled = true;
            reject(e);
          }
        },
      );
    });
  }

  done(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

function checkTimeout(ms: number | undefined): number {
  const t = ms ?? DEFAULT_EXIT_TIMEOUT_MS;
  if (!Number.isFinite(t) || t <= 0) throw new UsageError(`exit timeout must be a positive number of ms, not ${t}`);
  return t;
}

function cancelled(what: string, cause: unknown): StreamError {
  return new StreamError(`${what} cancelled`, undefined, { cause });
}

// ---------------------------------------------------------------------------------------------
// Resolving
// ---------------------------------------------------------------------------------------------

interface Lookup {
  readonly v4: { readonly bytes: Uint8Array; readonly ttl: number } | undefined;
  readonly v6: { readonly bytes: Uint8Array; readonly ttl: number } | undefined;
}

/**
 * Looks a name up and keeps what tor keeps: the first IPv4 and (with IPv6 exit) the first IPv6
 * answer, with fuzzed TTLs. An answer that is no IP address is a resolver bug: ignored.
 */
async function lookupName(
  answering: Promise<ResolvedAddress[]>,
  ipv6Exit: boolean,
  budget: Budget,
  randomInt: (max: number) => number,
): Promise<Lookup> {
  const answers = await budget.race(answering);
  let v4: Lookup['v4'];
  let v6: Lookup['v6'];
  for (const a of Array.isArray(answers) ? answers : []) {
    const ip = typeof a?.address === 'string' ? parseIp(a.address) : undefined;
    if (!ip) continue;
    const c = canonical(ip.bytes);
    const ttl = fuzzyDnsTtl(typeof a.ttl === 'number' && a.ttl >= 0 ? a.ttl : DEFAULT_DNS_TTL, randomInt);
    if (c.family === 4) v4 ??= { bytes: c.bytes, ttl };
    else if (ipv6Exit) v6 ??= { bytes: c.bytes, ttl };
  }
  return { v4, v6 };
}

/** tor's test is the policy itself ("reject star"); isExit false overrides any policy. */
function exitsAtAll(opts: ResolveOptions): boolean {
  return opts.isExit && !(opts.policy !== undefined && opts.policy.rejectsAll(4) && opts.policy.rejectsAll(6));
}

function ipv6ExitOf(opts: ResolveOptions): boolean {
  return opts.ipv6Exit ?? (opts.policy !== undefined && !opts.policy.rejectsAll(6));
}

// ---------------------------------------------------------------------------------------------
// BEGIN
// ---------------------------------------------------------------------------------------------

/**
 * Handles a BEGIN: resolves, checks the policy, connects. Resolves with the open socket and the
 * CONNECTED to send, or with the END to send; rejects (StreamError) only when `signal` fired, in
 * which case nothing is to be sent and no socket is left open.
 */
export async function openExitStream(begin: Begin, opts: ExitOptions): Promise<ExitResult> {
  const timeoutMs = checkTimeout(opts.timeoutMs);
  if (opts.signal?.aborted) throw cancelled('exit stream', opts.signal.reason);
  const refuse = (reason: number, why: string, address?: { bytes: Uint8Array; ttl: number }): ExitResult => {
    opts.log?.info(`exit stream refused: ${EndReason.nameOf(reason)} (${why})`);
    return { ok: false, end: new End(reason, address ? { address: address.bytes, ttl: address.ttl } : undefined) };
  };
  // tor refuses these while parsing the BEGIN, before anything else.
  if (begin.port === 0) return refuse(EndReason.TORPROTOCOL, 'port 0');
  if (begin.host === '') return refuse(EndReason.TORPROTOCOL, 'no address');

  const exits = exitsAtAll(opts);
  const ipv6Exit = ipv6ExitOf(opts);
  let flags = begin.flags;
  if (!ipv6Exit) {
    // No IPv6 to offer: a preference for it means nothing, and a client that refuses IPv4 cannot
    // be served at all.
    flags &= ~BeginFlags.IPV6_PREFERRED;
    if (flags & BeginFlags.IPV4_NOT_OK) return refuse(EndReason.EXITPOLICY, 'IPv4 not acceptable and no IPv6 exit');
  }
  if (opts.hibernating === true) return refuse(EndReason.HIBERNATING, 'hibernating');

  const budget = new Budget(timeoutMs, opts.signal);
  try {
    // Pick the address.
    let target: { family: 4 | 6; bytes: Uint8Array; text: string; ttl: number };
    const literal = parseIp(begin.host);
    if (literal) {
      target = { ...canonical(literal.bytes), ttl: DEFAULT_DNS_TTL };
    } else {
      // A relay that is no exit does not even look names up (tor: dns_resolve_impl).
      if (!exits) return refuse(EndReason.RESOLVEFAILED, 'not an exit');
      if (!isValidDestination(begin.host)) return refuse(EndReason.RESOLVEFAILED, 'not a valid name');
      // A reverse-lookup name is for RESOLVE, never a destination.
      if (parsePtrName(begin.host) !== undefined) return refuse(EndReason.RESOLVEFAILED, 'reverse-lookup name in BEGIN');
      const resolver = opts.resolve ?? defaultResolve;
      const name = begin.host.toLowerCase();
      const answering = limitedLookup(opts.limits, () => resolver(name));
      if (!answering) return refuse(EndReason.RESOURCELIMIT, 'too many DNS lookups in flight');
      let found: Lookup;
      try {
        found = await lookupName(answering, ipv6Exit, budget, opts.randomInt ?? cryptoRandomInt);
      } catch (e) {
        if (e instanceof GaveUp && e.why === 'cancelled') throw e;
        return refuse(EndReason.RESOLVEFAILED, e instanceof GaveUp ? 'lookup timed out' : `lookup failed: ${errorCode(e) ?? 'error'}`);
      }
      const ipv4Ok = found.v4 !== undefined && (flags & BeginFlags.IPV4_NOT_OK) === 0;
      const ipv6Ok = found.v6 !== undefined && (flags & BeginFlags.IPV6_OK) !== 0 && ipv6Exit;
      let useV4: boolean;
      if (ipv4Ok && ipv6Ok) {
        // Both would do: let the policy decide if it cares, else the client's preference.
        const v4Allowed = opts.policy.evaluate(found.v4!.bytes, begin.port) === 'accepted';
        const v6Allowed = opts.policy.evaluate(found.v6!.bytes, begin.port) === 'accepted';
        useV4 = v4Allowed === v6Allowed ? (flags & BeginFlags.IPV6_PREFERRED) === 0 : v4Allowed;
      } else if (ipv4Ok || ipv6Ok) useV4 = ipv4Ok;
      else return refuse(EndReason.RESOLVEFAILED, 'no address of an acceptable family');
      const pick = useV4 ? found.v4! : found.v6!;
      target = { ...canonical(pick.bytes), ttl: pick.ttl };
    }

    // The policy, on the address actually used. IPv6 without IPv6 exit is refused whatever the
    // policy says (tor: my_exit_policy_rejects).
    const allowed =
      exits && (target.family === 4 || ipv6Exit) && opts.policy.evaluate(target.bytes, begin.port) === 'accepted';
    if (!allowed) return refuse(EndReason.EXITPOLICY, 'exit policy', target);
    if (opts.isRelayAddress?.(target.text, begin.port) === true) {
      return refuse(EndReason.CONNECTREFUSED, 'connecting back into the Tor network');
    }

    const bind = bindFor(opts.bindAddress, target.family);
    const connect = opts.connect ?? defaultConnect;
    const releaseSocket = opts.limits ? opts.limits.trySocket() : () => {};
    if (!releaseSocket) return refuse(EndReason.RESOURCELIMIT, 'too many exit sockets open');
    const connecting = Promise.resolve().then(() => connect(target.text, begin.port, bind, budget.controller.signal));
    // The slot is the connector's until it fails, or until the socket it opened is closed, even
    // when that happens after we gave up on it.
    connecting.then((opened) => (opened ? releaseOnClose(opened, releaseSocket) : releaseSocket()), releaseSocket);
    let socket: net.Socket;
    try {
      // A connector that finishes after we gave up: close what it opened.
      socket = await budget.race(connecting, (late) => late?.destroy());
    } catch (e) {
      if (e instanceof GaveUp) {
        if (e.why === 'cancelled') throw e;
        return refuse(EndReason.TIMEOUT, 'connect timed out');
      }
      return refuse(endReasonForError(e), `connect failed: ${errorCode(e) ?? 'error'}`);
    }
    // Until the pipe takes the socket over (after CONNECTED is sent), a reset from the destination
    // must not be an 'error' without a listener: that would end the process. The pipe reads what
    // happened from socket.errored.
    socket.on('error', keepForPipe);
    socket.setNoDelay(true);
    return { ok: true, socket, connected: new Connected({ address: target.bytes, ttl: target.ttl }) };
  } catch (e) {
    if (e instanceof GaveUp) throw cancelled('exit stream', opts.signal?.reason);
    throw e;
  } finally {
    budget.done();
  }
}

/** The interim 'error' listener of a connected exit socket; pipeStream reads socket.errored. */
function keepForPipe(): void {}

function bindFor(bind: ExitOptions['bindAddress'], family: 4 | 6): string | undefined {
  if (bind === undefined) return undefined;
  if (typeof bind === 'string') {
    const ip = parseIp(bind);
    if (!ip) throw new UsageError(`bind address '${bind}' is not an IP address`);
    return ip.family === family ? formatIp(ip.bytes) : undefined;
  }
  return family === 4 ? bind.ipv4 : bind.ipv6;
}

// ---------------------------------------------------------------------------------------------
// RESOLVE
// ---------------------------------------------------------------------------------------------

/** tor's text in an error answer (send_resolved_cell). */
const RESOLVE_ERROR_TEXT = 'Error resolving hostname';

function errorAnswer(type: number, ttl: number): Resolved {
  const value = Uint8Array.from(RESOLVE_ERROR_TEXT, (c) => c.charCodeAt(0));
  return new Resolved([{ type, value, ttl }]);
}

function addressAnswer(bytes: Uint8Array, ttl: number): ResolvedAnswer {
  return { type: bytes.length === 4 ? ResolvedType.IPV4 : ResolvedType.IPV6, value: bytes, ttl };
}

/**
 * Handles a RESOLVE: the RESOLVED to send. Like tor: a name gives its first IPv4 answer and (with
 * IPv6 exit) its first IPv6 answer; a reverse name (x.in-addr.arpa, x.ip6.arpa) gives a host name;
 * failures give an error answer, transient (0xF0) when a retry might work, else non-transient
 * (0xF1). A relay that is no exit answers every name with an error. Rejects (StreamError) only when
 * `signal` fired.
 */
export async function answerResolve(resolve: Resolve, opts: ResolveOptions): Promise<Resolved | End> {
  const timeoutMs = checkTimeout(opts.timeoutMs);
  if (opts.signal?.aborted) throw cancelled('resolve', opts.signal.reason);
  const randomInt = opts.randomInt ?? cryptoRandomInt;
  const host = resolve.hostname;
  const fail = (type: number, why: string, ttl = 0): Resolved => {
    opts.log?.info(`resolve failed: ${why}`);
    return errorAnswer(type, ttl);
  };
  const busy = (): End => {
    opts.log?.info('resolve refused: RESOURCELIMIT (too many DNS lookups in flight)');
    return new End(EndReason.RESOURCELIMIT);
  };

  const literal = parseIp(host);
  if (literal) return new Resolved([addressAnswer(canonical(literal.bytes).bytes, DEFAULT_DNS_TTL)]);
  if (!exitsAtAll(opts)) return fail(ResolvedType.ERROR_NONTRANSIENT, 'not an exit');
  if (!isValidDestination(host)) return fail(ResolvedType.ERROR_NONTRANSIENT, 'not a valid name');

  const budget = new Budget(timeoutMs, opts.signal);
  try {
    const ptr = parsePtrName(host);
    if (ptr === null) return fail(ResolvedType.ERROR_NONTRANSIENT, 'malformed reverse-lookup name');
    if (ptr !== undefined) {
      // Nobody learns the names of the exit's own networks.
      if (isInternalAddress(ptr)) return fail(ResolvedType.ERROR_NONTRANSIENT, 'reverse lookup of an internal address');
      const reverse = opts.reverse ?? defaultReverse;
      const answering = limitedLookup(opts.limits, () => reverse(formatIp(ptr)));
      if (!answering) return busy();
      let names: string[];
      try {
        names = await budget.race(answering);
      } catch (e) {
        if (e instanceof GaveUp && e.why === 'cancelled') throw e;
        const transient = e instanceof GaveUp || isTransientDnsError(e);
        return fail(transient ? ResolvedType.ERROR_TRANSIENT : ResolvedType.ERROR_NONTRANSIENT, 'reverse lookup failed', fuzzyDnsTtl(0, randomInt));
      }
      const name = (Array.isArray(names) ? names : []).find((n) => typeof n === 'string' && n.length > 0 && n.length < 256 && /^[\x21-\x7e]+$/.test(n));
      if (name === undefined) return fail(ResolvedType.ERROR_NONTRANSIENT, 'no name for the address', fuzzyDnsTtl(0, randomInt));
      const value = Uint8Array.from(name, (c) => c.charCodeAt(0));
      return new Resolved([{ type: ResolvedType.HOSTNAME, value, ttl: fuzzyDnsTtl(DEFAULT_DNS_TTL, randomInt) }]);
    }

    const resolver = opts.resolve ?? defaultResolve;
    const name = host.toLowerCase();
    const answering = limitedLookup(opts.limits, () => resolver(name));
    if (!answering) return busy();
    let found: Lookup;
    try {
      found = await lookupName(answering, ipv6ExitOf(opts), budget, randomInt);
    } catch (e) {
      if (e instanceof GaveUp && e.why === 'cancelled') throw e;
      const transient = e instanceof GaveUp || isTransientDnsError(e);
      // tor reports a failed lookup with the (clipped, fuzzed) TTL of a failure: 0 → 300 ± 240.
      return fail(transient ? ResolvedType.ERROR_TRANSIENT : ResolvedType.ERROR_NONTRANSIENT, `lookup failed: ${errorCode(e) ?? 'timeout'}`, fuzzyDnsTtl(0, randomInt));
    }
    const answers: ResolvedAnswer[] = [];
    if (found.v4) answers.push(addressAnswer(found.v4.bytes, found.v4.ttl));
    if (found.v6) answers.push(addressAnswer(found.v6.bytes, found.v6.ttl));
    if (answers.length === 0) return fail(ResolvedType.ERROR_NONTRANSIENT, 'no addresses', fuzzyDnsTtl(0, randomInt));
    return new Resolved(answers);
  } catch (e) {
    if (e instanceof GaveUp) throw cancelled('resolve', opts.signal?.reason);
    throw e;
  } finally {
    budget.done();
  }
}
