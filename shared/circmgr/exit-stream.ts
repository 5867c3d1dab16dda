import { EndReason } from '../cells/index.ts';
import type { Circuit } from '../circuit/index.ts';
import type { TorStream } from '../stream/index.ts';
import { StreamError, TelescopeError, type Logger } from '../util/index.ts';
import type { CircuitManager, ManagedCircuit } from './circuit-manager.ts';

/** END reasons after which tor tries the stream again on another circuit. */
const RETRIABLE_END = new Set<number>([EndReason.EXITPOLICY, EndReason.RESOURCELIMIT, EndReason.DESTROY, EndReason.TIMEOUT, EndReason.HIBERNATING, EndReason.MISC, EndReason.INTERNAL, EndReason.TORPROTOCOL, EndReason.NOROUTE]);

/**
 * Open a stream to host:port through a circuit for `isolationKey`. The hostname goes to the exit
 * as typed (never resolved here). Retries on other circuits when the exit refuses for a reason
 * another exit may not have.
 */
export async function openExitStream(
  circuits: CircuitManager,
  host: string,
  port: number,
  opts: { readonly isolationKey: string; readonly attempts?: number; readonly log: Logger },
): Promise<{ stream: TorStream; circuit: ManagedCircuit }> {
  const tried = new Set<Circuit>();
  const attempts = opts.attempts ?? 4;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const mc = await circuits.get(port, opts.isolationKey, tried);
    try {
      const stream = await mc.circuit.openStream(host, port, { timeoutMs: 20_000 });
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
