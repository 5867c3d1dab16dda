import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../../shared/bytes/index.ts';
import { CertificateError, StreamError } from '../../../shared/util/index.ts';
import { HttpsPool } from './pool.ts';
import type { StreamOpener } from './streams.ts';
import { BIG, opener, socketStream, useTestSite } from './test-site.ts';
import { httpsRequest } from './transfer.ts';

/** HttpsPool with the real libcurl.js over loopback sockets standing in for Tor streams. */

const web = useTestSite();

describe('HttpsPool: TLS connections kept per first-party site', () => {
  const o = () => ({ extraCaPem: [web.ca.caPem] });
  const get = (path: string, host = 'site.test') => ({ method: 'GET', url: new URL(`https://${host}:${web.port}${path}`) });

  /** An opener whose streams can be killed, as a destroyed circuit kills its streams. */
  function killableOpener(seen: string[]): { open: StreamOpener; kill(): void } {
    const sockets: Socket[] = [];
    return {
      open: async (host, p) => {
        seen.push(`${host}:${p}`);
        const socket = connect(web.port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
        sockets.push(socket);
        return socketStream(socket);
      },
      kill: () => { for (const s of sockets.splice(0)) s.destroy(new Error('circuit destroyed')); },
    };
  }

  it('sends a site\'s requests over one stream and one TLS connection', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const before = web.tlsConnections;
    for (const path of ['/hello', '/echo', '/gzip', '/304', '/cookies', '/big', '/hello']) {
      const r = await pool.request('site.test', opener(seen), get(path), o());
      expect(r.status).toBeGreaterThanOrEqual(200);
    }
    expect(seen).toEqual([`site.test:${web.port}`]);
    expect(web.tlsConnections - before).toBe(1);
    pool.forgetAll();
  });

  it('never shares a session between two sites', async () => {
    const pool = new HttpsPool();
    const a: string[] = [];
    const b: string[] = [];
    const before = web.tlsConnections;
    for (let i = 0; i < 2; i++) {
      expect((await pool.request('a.example', opener(a), get('/hello'), o())).status).toBe(200);
      expect((await pool.request('b.example', opener(b), get('/hello'), o())).status).toBe(200);
    }
    expect(a).toEqual([`site.test:${web.port}`]);
    expect(b).toEqual([`site.test:${web.port}`]);
    expect(web.tlsConnections - before).toBe(2);
    expect(pool.size).toBe(2);
    pool.forgetAll();
    expect(pool.size).toBe(0);
  });

  it('opens a new stream after forgetSite, and leaves other sites\' connections alone', async () => {
    const pool = new HttpsPool();
    const a: string[] = [];
    const b: string[] = [];
    await pool.request('a.example', opener(a), get('/hello'), o());
    await pool.request('b.example', opener(b), get('/hello'), o());
    pool.forgetSite('a.example');
    expect(pool.size).toBe(1);
    expect((await pool.request('a.example', opener(a), get('/hello'), o())).status).toBe(200);
    expect((await pool.request('b.example', opener(b), get('/hello'), o())).status).toBe(200);
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(1);
    pool.forgetAll();
  });

  it('does not reuse a connection whose stream died: the next request opens a new one', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const k = killableOpener(seen);
    expect((await pool.request('site.test', k.open, get('/hello'), o())).status).toBe(200);
    k.kill();
    await new Promise((r) => setTimeout(r, 20));
    const r = await pool.request('site.test', k.open, get('/hello'), o());
    expect(new TextDecoder().decode(r.body)).toBe('hello over TLS');
    expect(seen).toHaveLength(2);
    pool.forgetAll();
  });

  it('fails a request in flight when its site is forgotten, with a typed error', async () => {
    const pool = new HttpsPool();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => { release = r; });
    const slow: StreamOpener = async (host, p) => { await held; return opener([])(host, p); };
    const pending = pool.request('site.test', slow, get('/hello'), o()).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    pool.forgetSite('site.test');
    release();
    expect(await pending).toBeInstanceOf(StreamError);
    // The forgotten session's late stream was closed, not kept; the site works again.
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    pool.forgetAll();
  });

  it('keeps extra CAs to the session that asked for them', async () => {
    const pool = new HttpsPool();
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    // Same site, no extra CA: its own session, which must not trust the test CA.
    await expect(pool.request('site.test', opener([]), get('/hello'))).rejects.toBeInstanceOf(CertificateError);
    expect((await pool.request('site.test', opener([]), get('/hello'), o())).status).toBe(200);
    pool.forgetAll();
  });

  it('keeps HEAD, 204, 304 and the body limit as they were, on a kept connection', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const head = await pool.request('site.test', opener(seen), { method: 'HEAD', url: new URL(`https://site.test:${web.port}/big`) }, o());
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG.length));
    expect(head.body.length).toBe(0);
    expect((await pool.request('site.test', opener(seen), get('/cookies'), o())).status).toBe(204);
    expect((await pool.request('site.test', opener(seen), get('/304'), o())).status).toBe(304);
    await expect(pool.request('site.test', opener(seen), get('/big'), { ...o(), maxBodyBytes: 1000 })).rejects.toBeInstanceOf(StreamError);
    const big = await pool.request('site.test', opener(seen), get('/big'), o());
    expect(equalBytes(big.body, BIG)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    // Aborted transfers (the HEAD, the body over the limit) are counted out: curl's timer stops.
    const [session] = [...(pool as unknown as { sessions: Map<string, { session: { active_requests: number; event_loop: unknown } }> }).sessions.values()];
    expect(session?.session.active_requests).toBe(0);
    expect(session?.session.event_loop).toBeNull();
    pool.forgetAll();
  });

  it('runs concurrent requests of a site, each answered with its own response', async () => {
    const pool = new HttpsPool();
    const seen: string[] = [];
    const rs = await Promise.all(['/hello', '/gzip', '/big', '/hello', '/echo'].map((p) => pool.request('site.test', opener(seen), get(p), o())));
    expect(new TextDecoder().decode(rs[0]!.body)).toBe('hello over TLS');
    expect(new TextDecoder().decode(rs[1]!.body)).toBe('squeezed '.repeat(100));
    expect(equalBytes(rs[2]!.body, BIG)).toBe(true);
    expect(rs[4]!.status).toBe(201);
    // HTTP/1.1 here: up to 6 connections to one server, as browsers do.
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.length).toBeLessThanOrEqual(6);
    pool.forgetAll();
  });

  it('closes idle sessions and keeps at most maxSessions', async () => {
    const pool = new HttpsPool({ idleMs: 1000, maxSessions: 2 });
    const seen: string[] = [];
    for (const site of ['a', 'b', 'c']) await pool.request(site, opener(seen), get('/hello'), o());
    expect(pool.size).toBe(2);
    await new Promise((r) => setTimeout(r, 1300));
    expect(pool.size).toBe(0);
    await pool.request('a', opener(seen), get('/hello'), o());
    expect(seen).toHaveLength(4);
    pool.forgetAll();
  });

  it('measures 10 sequential GETs: a session per request vs a kept connection', async () => {
    const pool = new HttpsPool();
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await httpsRequest(opener([]), get('/hello'), o());
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) await pool.request('site.test', opener([]), get('/hello'), o());
    const t2 = performance.now();
    console.log(`10 sequential HTTPS GETs over loopback: ${(t1 - t0).toFixed(0)} ms with a TLS handshake each, ${(t2 - t1).toFixed(0)} ms on a kept connection`);
    pool.forgetAll();
  });
});
