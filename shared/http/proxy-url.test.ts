import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { proxyPath, rewriteCss, rewriteHtml, webUrlOf } from './proxy-url.ts';

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

  it('rewrites absolute URLs in pages and styles, and leaves relative ones to the browser', () => {
    const base = new URL('http://site.test/dir/page');
    const html = '<a href="http://other.test/x">x</a><img src="//cdn.test/i.png"><a href="rel">r</a><a href="/root">r</a>'
      + '<img srcset="http://a.test/1.png 1x, http://a.test/2.png 2x"><form action="https://f.test/post"></form><a href="mailto:a@b">m</a>';
    const out = rewriteHtml(html, base);
    expect(out).toContain('href="/web/http/other.test/80/x"');
    expect(out).toContain('src="/web/http/cdn.test/80/i.png"');
    expect(out).toContain('href="rel"');
    expect(out).toContain('href="/root"');
    expect(out).toContain('srcset="/web/http/a.test/80/1.png 1x, /web/http/a.test/80/2.png 2x"');
    expect(out).toContain('action="/web/https/f.test/443/post"');
    expect(out).toContain('href="mailto:a@b"');
    expect(rewriteCss('body { background: url("http://img.test/b.png") } a { background: url(/x.png) }', base))
      .toBe('body { background: url("/web/http/img.test/80/b.png") } a { background: url(/x.png) }');
  });

  it('never throws on arbitrary markup', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      expect(typeof rewriteHtml(s, new URL('http://x.test/'))).toBe('string');
    }));
  });
});
