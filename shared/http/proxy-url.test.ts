import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { proxyPath, rewriteCss, rewriteHtml, rewriteSrcset, webUrlOf } from './proxy-url.ts';

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

  it('rewrites absolute and root URLs in pages and styles, and leaves relative ones to the browser', () => {
    const base = new URL('http://site.test/dir/page');
    const html = '<a href="http://other.test/x">x</a><img src="//cdn.test/i.png"><a href="rel">r</a><a href="/root">r</a>'
      + '<img srcset="http://a.test/1.png 1x, http://a.test/2.png 2x"><form action="https://f.test/post"></form><a href="mailto:a@b">m</a>';
    const out = rewriteHtml(html, base);
    expect(out).toContain('href="/web/http/other.test/80/x"');
    expect(out).toContain('src="/web/http/cdn.test/80/i.png"');
    expect(out).toContain('href="rel"');
    expect(out).toContain('href="/web/http/site.test/80/root"');
    expect(out).toContain('srcset="/web/http/a.test/80/1.png 1x, /web/http/a.test/80/2.png 2x"');
    expect(out).toContain('action="/web/https/f.test/443/post"');
    expect(out).toContain('href="mailto:a@b"');
    expect(rewriteCss('body { background: url("http://img.test/b.png") } a { background: url(/x.png) } b { background: url(rel.png) }', base))
      .toBe('body { background: url("/web/http/img.test/80/b.png") } a { background: url(/web/http/site.test/80/x.png) } b { background: url(rel.png) }');
  });

  it('reads attributes as the HTML tokenizer does: unquoted, entities, odd spacing, any case', () => {
    const base = new URL('http://site.test/dir/page');
    const out = rewriteHtml('<IMG SRC=http://s.test:81/x><a\nhref = \'//s.test/y\'>y</a><img src="http&#58;//s.test/z"><img src="ht\ttp://s.test/t">'
      + '<img src="&#x68;ttp://s.test/e"><a href=http:&sol;&sol;s.test/q>q</a><img/src="http://s.test/slash"><img src="\\\\s.test/bs">', base);
    expect(out).toContain('SRC="/web/http/s.test/81/x"');
    expect(out).toContain('href = "/web/http/s.test/80/y"');
    expect(out).toContain('src="/web/http/s.test/80/z"');
    expect(out).toContain('src="/web/http/s.test/80/t"');
    expect(out).toContain('src="/web/http/s.test/80/e"');
    expect(out).toContain('href="/web/http/s.test/80/q"');
    expect(out).toContain('src="/web/http/s.test/80/slash"');
    expect(out).toContain('src="/web/http/s.test/80/bs"');
    expect(out).not.toMatch(/s\.test(?!\/8)/);
  });

  it('covers every attribute that loads or navigates, and style sheets in the page', () => {
    const base = new URL('http://site.test/');
    const S = 'http://s.test';
    const html = `<form action=${S}/f><button formaction="${S}/fa">b</button><input type=image src="${S}/i" formaction=${S}/fi></form>`
      + `<video poster="${S}/p"></video><a href="${S}/l" ping="${S}/p1 ${S}/p2">l</a><body background="${S}/bg">`
      + `<svg><image xlink:href="${S}/svg"/><use href="${S}/use"/></svg><object data="${S}/o"></object><embed src="${S}/e">`
      + `<iframe src="${S}/if"></iframe><iframe srcdoc="<img src=&quot;${S}/sd&quot;>"></iframe>`
      + `<link rel=preload as=image imagesrcset="${S}/is1 1x, ${S}/is2 2x"><source srcset="${S}/a.png?x=1,2 100w, ${S}/b.png 200w">`
      + `<meta http-equiv="Refresh" content="5; URL='${S}/refresh'"><div style="background:url(${S}/st)"></div>`
      + `<style>@import "${S}/imp.css"; @import url(${S}/imp2.css); @font-face { font-family: x; src: url(${S}/f.woff2) format("woff2") }`
      + ` .a { background-image: image-set("${S}/1x.png" 1x, url(${S}/2x.png) 2x) }</style>`;
    const out = rewriteHtml(html, base);
    // Nothing names the other host directly any more.
    expect(out.replace(/\/web\/http\/s\.test\/80\//g, '')).not.toContain('s.test');
    for (const p of ['f', 'fa', 'i', 'fi', 'p', 'l', 'p1', 'p2', 'bg', 'svg', 'use', 'o', 'e', 'if', 'imp.css', 'imp2.css', 'f.woff2', '1x.png', '2x.png', 'st', 'is1', 'is2', 'refresh']) {
      expect(out, p).toContain(`/web/http/s.test/80/${p}`);
    }
    expect(out).toContain('srcdoc="<img src=&quot;/web/http/s.test/80/sd&quot;>"');
    expect(out).toContain('srcset="/web/http/s.test/80/a.png?x=1,2 100w, /web/http/s.test/80/b.png 200w"');
    expect(out).toContain(`content="5; URL='/web/http/s.test/80/refresh'"`);
  });

  it('leaves text, comments, scripts and titles alone, and links to data:/javascript: documents inert', () => {
    const base = new URL('http://site.test/');
    const text = '<p>see http://s.test/ and url(http://s.test/)</p><!-- <img src="http://s.test/c"> --><title><img src="http://s.test/t"></title>'
      + '<textarea><a href="http://s.test/ta"></textarea><script>var u = "<img src=http://s.test/sc>";</script>';
    expect(rewriteHtml(text, base)).toBe(text);
    const out = rewriteHtml('<a href="data:text/html,<img src=x>">d</a><a href=" javascript:alert(1)">j</a><iframe src="blob:http://s.test/1"></iframe><img src="data:image/png;base64,AAAA">', base);
    expect(out).toBe('<a href="#">d</a><a href="#">j</a><iframe src="#"></iframe><img src="data:image/png;base64,AAAA">');
  });

  it('resolves against <base href> and keeps fragments', () => {
    const out = rewriteHtml('<base href="http://other.test/sub/"><a href="page#top">p</a><a href="#here">h</a><img src="i.png">', new URL('http://site.test/'));
    expect(out).toContain('href="/web/http/other.test/80/sub/page#top"');
    expect(out).toContain('href="#here"');
    expect(out).toContain('src="/web/http/other.test/80/sub/i.png"');
  });

  it('parses srcset as HTML does', () => {
    const base = new URL('http://site.test/');
    expect(rewriteSrcset('http://a.test/1.png, http://a.test/2.png 2x,,http://a.test/3.png', base)).toBe('/web/http/a.test/80/1.png, /web/http/a.test/80/2.png 2x, /web/http/a.test/80/3.png');
    expect(rewriteSrcset('rel.png 1x', base)).toBe('rel.png 1x');
  });

  it('never throws on arbitrary markup, and leaves markup without URLs as it was', () => {
    const markup = fc.array(fc.oneof(fc.string(), fc.constantFrom('<', '>', '"', "'", '=', ' ', '<a href=', '<img src="', '<!--', '-->', '<style>', '</style>', '<title>', 'url(', '&#', 'http://x.test/', '//', '/'))).map((a) => a.join(''));
    fc.assert(fc.property(markup, (s) => {
      expect(typeof rewriteHtml(s, new URL('http://x.test/'))).toBe('string');
      expect(typeof rewriteCss(s, new URL('http://x.test/'))).toBe('string');
    }));
    fc.assert(fc.property(fc.string().filter((s) => !/[/\\:&]/.test(s)), (s) => {
      expect(rewriteHtml(s, new URL('http://x.test/'))).toBe(s);
    }));
  });
});
