import { StreamError, type TelescopeError } from '../../../shared/util/index.ts';
import type { HttpRequest, HttpResponse } from '../../../shared/http/index.ts';
import { closeSession, openSession, type PooledSession } from './session.ts';
import type { StreamOpener } from './streams.ts';
import { prepare, runTransfer, type HttpsOptions } from './transfer.ts';

export interface HttpsPoolOptions {
  /** An unused session is closed after this long (default 60 s). */
  readonly idleMs?: number;
  /** Most sessions kept at once (default 16); beyond it the least recently used idle one goes. */
  readonly maxSessions?: number;
}

/**
 * HTTPS sessions kept per first-party site: requests of one site reuse its TLS connections
 * (keep-alive, HTTP/2), while two sites never share a session, a connection or a TLS session
 * cache. A session is also per set of extra CAs, so extra CAs never reach a request that did not
 * ask for them.
 */
export class HttpsPool {
  private readonly sessions = new Map<string, PooledSession>();
  private readonly idleMs: number;
  private readonly maxSessions: number;

  constructor(options: HttpsPoolOptions = {}) {
    this.idleMs = options.idleMs ?? 60_000;
    this.maxSessions = options.maxSessions ?? 16;
  }

  /** Sessions open now (for tests and the status page). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * One HTTPS request on `site`'s session; new connections are opened with `open`, which must
   * reach `site`'s circuit (any opener given for the same site is used for that site's streams).
   */
  async request(site: string, open: StreamOpener, request: HttpRequest, options: HttpsOptions = {}): Promise<HttpResponse> {
    const prepared = await prepare(request, options);
    const key = `${site}\n${prepared.caKey}`;
    let pooled = this.sessions.get(key);
    let oneShot = false;
    if (!pooled) {
      if (this.sessions.size >= this.maxSessions && !this.evictIdle()) {
        // Every session is busy: this request gets a session of its own, as before pooling.
        oneShot = true;
        pooled = openSession(prepared.rt, key, open);
      } else {
        pooled = openSession(prepared.rt, key, open);
        this.sessions.set(key, pooled);
      }
    }
    const s = pooled;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    s.lastUsed = Date.now();
    s.context.open = open;
    try {
      return await runTransfer(s, prepared, request, options);
    } finally {
      if (oneShot) closeSession(s, new StreamError('the request is over'));
      else if (!s.context.closed && s.transfers.size === 0) {
        s.lastUsed = Date.now();
        s.idleTimer = setTimeout(() => this.drop(s, new StreamError(`${site}: HTTPS session closed after being idle`)), this.idleMs);
        // Node (tests, tools) need not stay up for an idle session.
        (s.idleTimer as { unref?: () => void }).unref?.();
      }
    }
  }

  /** "New circuit for this site": the site's sessions close, its next request connects afresh. */
  forgetSite(site: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.key.slice(0, s.key.lastIndexOf('\n')) === site) this.drop(s, new StreamError(`${site}: HTTPS connection closed for a new circuit`));
    }
  }

  /** "New identity" (or the client closing): every session closes. */
  forgetAll(): void {
    for (const s of [...this.sessions.values()]) this.drop(s, new StreamError('HTTPS connection closed for a new identity'));
  }

  private drop(s: PooledSession, reason: TelescopeError): void {
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
    closeSession(s, reason);
  }

  /** Close the least recently used idle session; false if none is idle. */
  private evictIdle(): boolean {
    let oldest: PooledSession | undefined;
    for (const s of this.sessions.values()) {
      if (s.transfers.size === 0 && (!oldest || s.lastUsed < oldest.lastUsed)) oldest = s;
    }
    if (!oldest) return false;
    this.drop(oldest, new StreamError('HTTPS session closed to make room for another site'));
    return true;
  }
}
