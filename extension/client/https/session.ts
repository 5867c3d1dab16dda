import type { TelescopeError } from '../../../shared/util/index.ts';
import type { Runtime, TorSession } from './runtime.ts';
import { registerSession, unregisterSession, type SessionContext, type StreamOpener } from './streams.ts';
import type { Transfer } from './transfer.ts';

/** One curl session: one first-party site's connections, under one set of trusted CAs. */
export interface PooledSession {
  readonly key: string;
  readonly session: TorSession;
  readonly proxyId: string;
  readonly context: SessionContext;
  /** Transfers in progress, each abortable. */
  readonly transfers: Map<Transfer, AbortController>;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  lastUsed: number;
}

export function openSession(rt: Runtime, key: string, open: StreamOpener): PooledSession {
  const context: SessionContext = { open, sockets: new Set(), failure: undefined, closed: false };
  const session = new rt.Session();
  const proxyId = registerSession(context);
  return { key, session, proxyId, context, transfers: new Map(), idleTimer: undefined, lastUsed: Date.now() };
}

/**
 * Close a session now: its transfers fail with `reason`, its connections and their streams close,
 * and its proxy name stops opening streams.
 */
export function closeSession(s: PooledSession, reason: TelescopeError): void {
  if (s.context.closed) return;
  s.context.closed = true;
  if (s.idleTimer) clearTimeout(s.idleTimer);
  for (const [transfer, abort] of s.transfers) {
    transfer.failure ??= reason;
    abort.abort();
  }
  s.session.close();
  for (const socket of [...s.context.sockets]) socket.close();
  unregisterSession(s.proxyId);
}
