import { ConsensusRejectedError } from '../netdoc/index.ts';
import { MissingProtocolsError } from '../directory/index.ts';
import { TelescopeError, type ErrorKind } from '../util/index.ts';

/**
 * Why bootstrapping is stuck, in words a person can act on. Errors deep in the core say exactly
 * what broke ("consensus: 0 of 3 authorities' signatures verify, 2 needed"); a person needs to know
 * which of a handful of things to fix: the bridge (address, running, fingerprint), the computer's
 * clock, or the authorities in the settings. Like tor's BOOTSTRAP PROBLEM events, a problem can
 * be reported while bootstrapping still retries, and a clock-skew warning may stand even when
 * bootstrapping succeeded.
 *
 * The classification reads only errors' kinds and structured fields (the peer, the phase, the
 * document and its validity times), never their messages: rewording an error must not change the
 * advice a person sees.
 */

export type BootstrapProblemKind = 'no-bridge' | 'bridge-unreachable' | 'network-unreachable' | 'clock-skew' | 'consensus-invalid' | 'protocols-missing' | 'failed';

export interface BootstrapProblem {
  readonly kind: BootstrapProblemKind;
  /** What is wrong, in one line ("Bridge unreachable: ws://…"). */
  readonly message: string;
  /** What to do about it. */
  readonly hint: string;
  /** The underlying error, for the log and for whoever asks for details. */
  readonly detail: string;
  /** clock-skew: how far this computer's clock is ahead (positive) or behind (negative), when known. */
  readonly clockSkewMs?: number;
  /** bridge-unreachable: the bridge as the settings name it (its URL, or address:port). */
  readonly bridge?: string;
  /** protocols-missing: the required protocols this version lacks ("FlowCtrl=2 Relay=3-4"). */
  readonly missingProtocols?: string;
  /** The kind of the error the problem was read from, for programs (`detail` is for people). */
  readonly errorKind?: ErrorKind;
}

export interface ProblemContext {
  /** The configured bridges as a person knows them (WebSocket URL, or address:port). */
  readonly bridges: readonly string[];
  /** now − the bridge's NETINFO time, when a link handshake told us the bridge's clock. */
  readonly peerClockSkewMs?: number;
  /**
   * Where the authorities that must sign the consensus come from: the person's DirAuthority lines
   * ('configured', the default), or the list built into this build (the public network's). The
   * advice for a consensus they did not sign differs: fix the lines, or use a bridge of the network
   * the built-in list names (or name the bridge's private network).
   */
  readonly authoritySet?: 'configured' | 'built-in';
}

/** tor warns about a relay's NETINFO time once the difference passes an hour. */
export const NETINFO_SKEW_WARN_MS = 60 * 60_000;

/** A consensus-based skew estimate is only a lower bound; below this the NETINFO value is noise. */
const SKEW_TRUSTED_MS = 10 * 60_000;

export function noBridgeProblem(): BootstrapProblem {
  return {
    kind: 'no-bridge',
    message: 'No bridge configured',
    hint: 'Open Settings and paste the bridge line your relay-bridge prints ("telescope ws://… FINGERPRINT ntor=…"); the public network\'s directory authorities are built in (a private network needs its DirAuthority lines too).',
    detail: 'no bridge configured',
  };
}

/**
 * A warning when a relay's NETINFO clock differs from ours by more than an hour, or undefined.
 * A zero timestamp means the peer did not say (tor-spec lets a peer send 0).
 */
export function clockSkewFromNetinfo(peerTime: Date, now: Date): BootstrapProblem | undefined {
  if (peerTime.getTime() === 0 || Number.isNaN(peerTime.getTime())) return undefined;
  const skew = now.getTime() - peerTime.getTime();
  if (Math.abs(skew) <= NETINFO_SKEW_WARN_MS) return undefined;
  return clockSkew(skew, false, `the bridge's clock (NETINFO) reads ${peerTime.toISOString()}, ours ${now.toISOString()}`);
}

/**
 * Classify a bootstrap failure. The error's cause chain is searched from the outside in, and the
 * first error that says something specific wins: "bootstrap stalled" wraps the failure that
 * stalled it.
 */
export function classifyBootstrapFailure(error: unknown, context: ProblemContext): BootstrapProblem {
  const chain = causeChain(error);
  for (const e of chain) {
    const p = classifyOne(e, context);
    if (p) return p;
  }
  const detail = messageOf(error);
  return {
    kind: 'failed',
    message: `Could not connect to Tor: ${detail}`,
    hint: 'Telescope keeps the details in its log (status page). If this persists, check the bridge and DirAuthority lines in Settings.',
    detail,
    ...(error instanceof TelescopeError ? { errorKind: error.kind } : {}),
  };
}

function classifyOne(e: unknown, context: ProblemContext): BootstrapProblem | undefined {
  if (!(e instanceof TelescopeError)) return undefined;
  const problem = classifyKind(e, context);
  return problem && { ...problem, errorKind: e.kind };
}

function classifyKind(e: TelescopeError, context: ProblemContext): BootstrapProblem | undefined {
  const detail = e.message;
  switch (e.kind) {
    case 'certificate-expired':
    case 'certificate-not-yet-valid': {
      if (e.document === 'consensus') {
        // Our clock minus the time the consensus is valid from (not yet valid) or until (expired):
        // how far off the clock is, at least. Without a check time (a consensus refused for being
        // no newer than the one we have) it is a stale directory source, not our clock.
        const bound = e.kind === 'certificate-expired' ? e.validUntil : e.validAfter;
        const skew = e.now && bound ? e.now.getTime() - bound.getTime() : undefined;
        // The NETINFO value is a measurement; the consensus gives only "at least".
        const peer = context.peerClockSkewMs;
        if (peer !== undefined && Math.abs(peer) >= SKEW_TRUSTED_MS) return clockSkew(peer, false, detail);
        if (skew !== undefined) return clockSkew(skew, true, detail);
        return undefined;
      }
      if (e.document === 'authority-certificate') {
        // Certificates live for months, so this means a clock that is far off; the error's times
        // are the certificate's, which bound the skew too loosely to name an amount.
        const peer = context.peerClockSkewMs;
        if (peer !== undefined && Math.abs(peer) >= SKEW_TRUSTED_MS) return clockSkew(peer, false, detail);
        return clockSkew(undefined, true, detail, e.kind === 'certificate-expired' ? 'ahead' : 'behind');
      }
      // A link certificate out of date: the peer is not a relay we can use.
      return bridgeUnreachable(e, context, detail, true);
    }
    case 'protocols-missing': {
      // Not retried and not fixable in the settings: this version is too old for the network.
      const missing = e instanceof MissingProtocolsError ? e.missing.toString() : undefined;
      return {
        kind: 'protocols-missing',
        message: `This version of Telescope is too old for the Tor network: the network requires protocols it does not implement${missing ? ` (${missing})` : ''}`,
        hint: 'Update Telescope. The network\'s directory authorities require these protocols of every client, so Telescope does not connect without them.',
        detail,
        ...(missing ? { missingProtocols: missing } : {}),
      };
    }
    case 'not-enough-signatures': {
      const set = context.authoritySet ?? 'configured';
      if (e instanceof ConsensusRejectedError) return consensusInvalid(set, `${e.validSignatures} of ${e.authorities} ${set} authorities signed it, ${e.required} needed`, detail);
      return consensusInvalid(set, `too few of the ${set} authorities signed it`, detail);
    }
    case 'certificate-invalid':
      if (e.document === 'authority-certificate') return consensusInvalid(context.authoritySet ?? 'configured', 'an authority key certificate does not verify', detail);
      // Link certificates (CERTS cell, identity mismatch) fail in the link handshake: the peer is
      // not the bridge the line names, or not a Tor relay at all.
      return bridgeUnreachable(e, context, detail, true);
    case 'handshake-failed':
      return bridgeUnreachable(e, context, detail, true);
    case 'channel-failed':
      // A WebSocket that never opened is a different fix from a peer that answered but failed the
      // Tor link handshake (wrong fingerprint, not a relay-bridge at that address).
      return bridgeUnreachable(e, context, detail, e.phase === 'link-handshake');
    case 'timeout':
      return e.phase === 'link-handshake' ? bridgeUnreachable(e, context, detail, true) : undefined;
    case 'network-unreachable':
      // No fallback directory or authority answered a first bootstrap (a client without bridges).
      return {
        kind: 'network-unreachable',
        message: 'Cannot reach the Tor network',
        hint: 'Check this computer\'s Internet connection. If it works, Tor may be blocked on this network: use a bridge (UseBridges 1 and a Bridge line).',
        detail,
      };
    default:
      return undefined;
  }
}

/**
 * The bridge is the extension's only way into the network (and a Node client's first hop when it
 * uses bridges): when it cannot be reached, nothing can, so the message says so first.
 * `answered`: the peer answered, but the Tor link handshake with it failed.
 */
function bridgeUnreachable(e: TelescopeError, context: ProblemContext, detail: string, answered: boolean): BootstrapProblem | undefined {
  // Without bridges the failed link was to a relay (a Node client on the network itself: a fallback,
  // an authority or a guard); there is no bridge to blame, and a person cannot fix one relay: the
  // generic failure names it. (The extension, which needs a bridge, says "no bridge" before it
  // ever starts a client.)
  if (context.bridges.length === 0) return undefined;
  // The bridge the error names; errors without a peer (a certificate, a handshake) come from the
  // first hop, which is the first (directory) bridge.
  const bridge = context.bridges.find((b) => b === e.peer) ?? context.bridges[0]!;
  return {
    kind: 'bridge-unreachable',
    message: answered
      ? `Cannot reach the Tor network: the bridge ${bridge} answered, but the Tor link handshake failed`
      : `Cannot reach the Tor network: the bridge ${bridge} does not answer`,
    hint: answered
      ? 'Check that the fingerprint (and ed25519=) in the bridge line are this bridge\'s: copy the line the relay-bridge prints at start-up again.'
      : 'Check that the relay-bridge is running and that the bridge line\'s ws:// or wss:// URL (host and port) is right; a firewall or proxy may block WebSockets.',
    detail,
    bridge,
  };
}

function consensusInvalid(set: 'configured' | 'built-in', why: string, detail: string): BootstrapProblem {
  return {
    kind: 'consensus-invalid',
    message: `Consensus not valid: ${why}`,
    hint: set === 'built-in'
      ? 'The bridge serves the consensus of a network other than the one whose authorities are built in (a private network?): use a bridge of that network, or paste the bridge\'s network\'s DirAuthority lines in Settings.'
      : 'Check the DirAuthority lines in Settings: their v3ident= must be the identities of the authorities of the network the bridge serves (copy them from the network\'s torrc), or leave them out to use the built-in public authorities.',
    detail,
  };
}

/** `skewMs` > 0: our clock is ahead. `atLeast`: the value is a lower bound. */
function clockSkew(skewMs: number | undefined, atLeast: boolean, detail: string, direction?: 'ahead' | 'behind'): BootstrapProblem {
  const dir = skewMs === undefined ? direction : skewMs > 0 ? 'ahead' : 'behind';
  const amount = skewMs === undefined ? '' : ` ${atLeast ? 'at least ' : ''}${formatDuration(Math.abs(skewMs))}`;
  return {
    kind: 'clock-skew',
    message: `Clock skew: this computer's clock seems to be${amount} ${dir ?? 'wrong'}`,
    hint: 'Set this computer\'s date, time and time zone correctly (automatic time is best): Tor\'s directory documents are valid only for a few hours.',
    detail,
    ...(skewMs !== undefined ? { clockSkewMs: skewMs } : {}),
  };
}

/** "2 h 5 min", "45 min", "3 days 4 h", "20 s". */
export function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const days = Math.floor(h / 24);
  return h % 24 === 0 ? `${days} days` : `${days} days ${h % 24} h`;
}

function causeChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = error;
  while (e !== undefined && e !== null && out.length < 10 && !out.includes(e)) {
    out.push(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  try {
    return String(e);
  } catch {
    // A thrown value whose toString is broken (fast-check found one): name its type instead.
    return Object.prototype.toString.call(e);
  }
}
