import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../../shared/bytes/index.ts';
import { CertificateError, StreamError, TelescopeError } from '../../../shared/util/index.ts';
import type { StreamOpener } from './streams.ts';
import { BIG, fetchStub, opener, useTestSite } from './test-site.ts';
import { httpsRequest } from './transfer.ts';

/**
 * httpsRequest with the real libcurl.js (its WebAssembly run by Node), over loopback TCP sockets
 * that stand in for Tor streams: TLS, certificate and host name checks, the extra-CA option, and
 * that every connection goes through the opener by name. The Tor path itself is proven by
 * e2e/extension-https.e2e.test.ts in the extension's service worker.
 */

const web = useTestSite();

describe('httpsRequest (libcurl.js over byte streams)', () => {
  it('fetches by host name through the opener, with the test CA added to the roots', async () => {
    const seen: string[] = [];
    const r = await httpsRequest(opener(seen), { method: 'GET', url: new URL(`https://site.test:${web.port}/hello`) }, { extraCaPem: [web.ca.caPem] });
    expect(r.status).toBe(200);
    expect(r.statusText).toBe('OK');
    expect(new TextDecoder().decode(r.body)).toBe('hello over TLS');
    expect(r.headers.get('content-type')).toBe('text/plain');
    // The name went to the opener (the exit resolves it); nothing else was dialled.
    expect(seen).toEqual([`site.test:${web.port}`]);
    expect(fetchStub.mock.calls.every(([u]) => String(u).endsWith('libcurl.wasm'))).toBe(true);
  }, 60_000);

  it('checks an IP address against the certificate\'s IP SAN', async () => {
    const seen: string[] = [];
    const r = await httpsRequest(opener(seen), { method: 'GET', url: new URL(`https://127.0.0.1:${web.port}/hello`) }, { extraCaPem: [web.ca.caPem] });
    expect(r.status).toBe(200);
    expect(seen).toEqual([`127.0.0.1:${web.port}`]);
  });

  it('rejects a certificate from an unknown CA, and an extra CA never outlives its request', async () => {
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/hello`) })).rejects.toBeInstanceOf(CertificateError);
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/hello`) }, { extraCaPem: [web.otherCa.caPem] }))
      .rejects.toBeInstanceOf(CertificateError);
  });

  it('rejects a certificate for another name, even from a trusted CA', async () => {
    const err = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://other.test:${web.port}/hello`) }, { extraCaPem: [web.ca.caPem] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertificateError);
    expect((err as Error).message).toContain('other.test');
  });

  it('passes method, headers and body through; keeps the status line\'s reason', async () => {
    const r = await httpsRequest(opener([]), {
      method: 'PUT',
      url: new URL(`https://site.test:${web.port}/echo`),
      headers: { 'X-Test': 'yes', Accept: 'application/json', 'Accept-Encoding': 'x-bogus', Host: 'evil.test' },
      body: new TextEncoder().encode('payload \u00ff'),
    }, { extraCaPem: [web.ca.caPem] });
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Made It');
    const echo = JSON.parse(new TextDecoder().decode(r.body)) as { method: string; headers: Record<string, string>; body: string };
    expect(echo.method).toBe('PUT');
    expect(echo.headers['x-test']).toBe('yes');
    expect(echo.headers['accept']).toBe('application/json');
    expect(echo.headers['host']).toBe(`site.test:${web.port}`);
    expect(echo.headers['accept-encoding']).not.toContain('x-bogus');
    expect(echo.headers['user-agent']).toBeUndefined();
    expect(echo.body).toBe(new TextDecoder('latin1').decode(new TextEncoder().encode('payload \u00ff')));
  });

  it('sends Content-Length: 0 for a POST without body', async () => {
    const r = await httpsRequest(opener([]), { method: 'POST', url: new URL(`https://site.test:${web.port}/echo`) }, { extraCaPem: [web.ca.caPem] });
    const echo = JSON.parse(new TextDecoder().decode(r.body)) as { method: string; headers: Record<string, string> };
    expect(echo.method).toBe('POST');
    expect(echo.headers['content-length']).toBe('0');
  });

  it('decodes gzip bodies and drops Content-Encoding', async () => {
    const r = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/gzip`) }, { extraCaPem: [web.ca.caPem] });
    expect(new TextDecoder().decode(r.body)).toBe('squeezed '.repeat(100));
    expect(r.headers.has('content-encoding')).toBe(false);
  });

  it('leaves redirects to the caller, keeps repeated Set-Cookie apart, handles 204/304 and HEAD', async () => {
    const o = { extraCaPem: [web.ca.caPem] };
    const redirect = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/redirect`) }, o);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/hello');
    const cookies = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/cookies`) }, o);
    expect(cookies.status).toBe(204);
    expect(cookies.headers.get('set-cookie')).toBe('a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT\nb=2');
    const notModified = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/304`) }, o);
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    const head = await httpsRequest(opener([]), { method: 'HEAD', url: new URL(`https://site.test:${web.port}/big`) }, o);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(BIG.length));
    expect(head.body.length).toBe(0);
  });

  it('moves a 1 MiB body intact, and enforces the body limit', async () => {
    const r = await httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/big`) }, { extraCaPem: [web.ca.caPem] });
    expect(r.body.length).toBe(BIG.length);
    expect(equalBytes(r.body, BIG)).toBe(true);
    await expect(httpsRequest(opener([]), { method: 'GET', url: new URL(`https://site.test:${web.port}/big`) }, { extraCaPem: [web.ca.caPem], maxBodyBytes: 1000 }))
      .rejects.toBeInstanceOf(StreamError);
  });

  it('keeps concurrent requests on their own openers', async () => {
    const a: string[] = [];
    const b: string[] = [];
    const [ra, rb] = await Promise.all([
      httpsRequest(opener(a), { method: 'GET', url: new URL(`https://site.test:${web.port}/hello`) }, { extraCaPem: [web.ca.caPem] }),
      httpsRequest(opener(b), { method: 'GET', url: new URL(`https://127.0.0.1:${web.port}/hello`) }, { extraCaPem: [web.ca.caPem] }),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(a).toEqual([`site.test:${web.port}`]);
    expect(b).toEqual([`127.0.0.1:${web.port}`]);
  });

  it('reports the opener\'s own error when the stream cannot be opened', async () => {
    const refuse: StreamOpener = async (host, p) => { throw new StreamError(`exit refused ${host}:${p}`, 4); };
    await expect(httpsRequest(refuse, { method: 'GET', url: new URL('https://nowhere.test/') })).rejects.toThrow('exit refused nowhere.test:443');
  });

  it('reports a stream that dies mid-handshake as a typed error', async () => {
    const dying: StreamOpener = async () => ({ read: async () => { throw new StreamError('circuit destroyed'); }, write: async () => {}, close: () => {} });
    await expect(httpsRequest(dying, { method: 'GET', url: new URL('https://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
  });

  it('refuses bad requests before touching the network', async () => {
    const seen: string[] = [];
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('http://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'G T', url: new URL('https://site.test/') })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('https://site.test/'), headers: { 'X-A': 'b\r\nEvil: 1' } })).rejects.toBeInstanceOf(TelescopeError);
    await expect(httpsRequest(opener(seen), { method: 'GET', url: new URL('https://site.test/') }, { extraCaPem: ['not a certificate'] })).rejects.toBeInstanceOf(CertificateError);
    expect(seen).toEqual([]);
  });
});
