import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { proxyPath, webUrlOf } from './proxy-url.ts';

describe('onion-tab URLs', () => {
  it('maps web URLs to /web/ paths and back', () => {
    expect(proxyPath(new URL('http://example.com/a/b?c=1'))).toBe('/web/http/example.com/80/a/b?c=1');
    expect(proxyPath(new URL('https://example.com:8443/'))).toBe('/web/https/example.com/8443/');
    expect(webUrlOf('/web/http/example.com/80/a/b?c=1')?.href).toBe('http://example.com/a/b?c=1');
    expect(webUrlOf('/web/http/127.0.0.1/8080/x')?.href).toBe('http://127.0.0.1:8080/x');
    expect(webUrlOf('/web/ftp/example.com/21/')).toBeUndefined();
    expect(webUrlOf('/web/http/example.com/99999/')).toBeUndefined();
    expect(webUrlOf('/status.js')).toBeUndefined();
  });

  it('round-trips any http URL', () => {
    fc.assert(fc.property(fc.webUrl({ validSchemes: ['http', 'https'], withQueryParameters: true }), (raw) => {
      const u = new URL(raw);
      const back = webUrlOf(proxyPath(u));
      u.hash = '';
      // An empty query (a bare "?") carries nothing and is not kept.
      expect(back?.href).toBe(u.search === '' ? u.href.replace(/\?$/, '') : u.href);
    }));
  });
});
