import { EndReason } from '../cells/index.ts';
import type { Circuit } from '../circuit/index.ts';
import { NoPathError } from '../path/index.ts';
import type { TorStream } from '../stream/index.ts';
import { StreamError, TelescopeError, type Logger } from '../util/index.ts';
import type { CircuitManager, ManagedCircuit } from './circuit-manager.ts';

/** END reasons after which tor tries the stream again on another circuit. */
const RETRIABLE_END = new Set<number>([EndReason.EXITPOLICY, EndReason.RESOURCELIMIT, EndReason.DESTROY, EndReason.TIMEOUT, EndReason.HIBERNATING, EndReason.MISC, EndReason.INTERNAL, EndReason.TORPROTOCOL, EndReason.NOROUTE]);

/**
 * How long a stream may wait for a circuit that carries it before the application hears of the
 * failure: tor's SocksTimeout (2 minutes). Within it, failed circuit builds and refusing exits are
 * tried again, because a network where some listed relays have just died (a consensus lags behind
 * by up to an hour) can cost several builds in a row before a path through live relays comes up.
 */
export const STREAM_ATTACH_TIMEOUT_MS = 120_000;

/** At most this many circuits (each built with its own retries) are tried for one stream. */
export const MAX_CIRCUITS_PER_STREAM = 8;

/** What openExitStream needs of the circuit manager. */
export type StreamCircuits = Pick<CircuitManager, 'get' | 'isClosed'>;

/**
 * Open a stream to host:port through a circuit for `isolationKey`. The hostname goes to the exit
 * as typed (never resolved here). Retries on other circuits when a circuit cannot be built or the
 * exit refuses for a reason another exit may not have, until `attempts` circuits were tried or
 * `timeoutMs` has passed; a path that cannot exist at all (NoPathError) or a client shutting down
 * ends it at once.
 */
export async function openExitStream(
  circuits: StreamCircuits,
  host: string,
  port: number,
  opts: { readonly isolationKey: string; readonly attempts?: number; readonly timeoutMs?: number; readonly now?: () => number; readonly log: Logger },
): Promise<{ stream: TorStream; circuit: ManagedCircuit }> {
  const now = opts.now ?? Date.now;
  const deadline = now() + (opts.timeoutMs ?? STREAM_ATTACH_TIMEOUT_MS);
  const tried = new Set<Circuit>();
  const attempts = opts.attempts ?? MAX_CIRCUITS_PER_STREAM;
  let last: unknown;
  for (let i = 0; i < attempts && (i === 0 || now() < deadline); i++) {
    let mc: ManagedCircuit;
    try {
      mc = await circuits.get(port, opts.isolationKey, tried);
    } catch (e) {
      if (!(e instanceof TelescopeError) || e instanceof NoPathError || circuits.isClosed) throw e;
      last = e;
      opts.log.info(`no circuit for a stream to ${host}:${port} (${e.message}); trying again`);
      continue;
    }
    try {
      const stream = await mc.circuit.openStream(host, port, { timeoutMs: Math.max(1, Math.min(20_000, deadline - now())) });
      return { stream, circuit: mc };
    } catch (e) {
      if (!(e instanceof TelescopeError)) throw e;
      last = e;
      const reason = e instanceof StreamError ? e.reason : undefined;
      if (reason !== undefined && !RETRIABLE_END.has(reason)) throw e;
      opts.log.info(`stream to ${host}:${port} failed on circuit ${mc.circuit.id} (${e.message}); trying another circuit`);
      tried.add(mc.circuit);
    }
  }
  throw last instanceof Error ? last : new StreamError(`could not open a stream to ${host}:${port}`);
}
