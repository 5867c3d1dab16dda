import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rewriteHtml, rewriteSrcset } from './rewrite-html.ts';
import { rewriteCss } from './rewrite-css.ts';
import { mapUrl, parseTabPath, tabPath, type PageContext } from './tab-path.ts';

const top: PageContext = { url: new URL('http://site.test/dir/page'), firstParty: 'site.test', topLevel: true };
const framed: PageContext = { url: new URL('http://tracker.test/frame'), firstParty: 'site.test', topLevel: false };
const S = 'http://s.test';
/** Where a subresource of a page of site.test's tab is asked for. */
const IN = '/in/site.test/web/http/s.test/80';
const sheet = (css: string, page = top) => rewriteCss(css, (u) => mapUrl(u, page.url, page, 'load'));

/** Everything in `out` that still names s.test directly (not through a tab path). */
const direct = (out: string) => out.replace(/\/(?:in\/site\.test\/)?web\/https?\/s\.test\/\d+\//g, '').match(/s\.test/g) ?? [];

describe('tab paths', () => {
  it('name the top document by its own site, everything else by the tab\'s first party', () => {
    const u = new URL('http://other.test:8080/a?b=1');
    expect(tabPath(u)).toBe('/web/http/other.test/8080/a?b=1');
    expect(tabPath(u, 'site.test')).toBe('/in/site.test/web/http/other.test/8080/a?b=1');
    expect(parseTabPath('/in/site.test/web/http/other.test/8080/a?b=1')).toEqual({ url: u, firstParty: 'site.test' });
    expect(parseTabPath('/web/http/other.test/8080/a?b=1')).toEqual({ url: u, firstParty: undefined });
    expect(parseTabPath('/in/Bad%20Host/web/http/other.test/80/')).toBeUndefined();
    expect(parseTabPath('/in/site.test')).toBeUndefined();
    expect(parseTabPath('/extension/pages/browse.html')).toBeUndefined();
  });

  it('round-trip any http URL and first party', () => {
    fc.assert(fc.property(fc.webUrl({ validSchemes: ['http', 'https'], withQueryParameters: true }), fc.domain(), (raw, fp) => {
      const u = new URL(raw);
      const back = parseTabPath(tabPath(u, fp.toLowerCase()));
      u.hash = '';
      expect(back?.url.href).toBe(u.search === '' ? u.href.replace(/\?$/, '') : u.href);
      expect(back?.firstParty).toBe(fp.toLowerCase());
    }));
  });
});

describe('the HTML rewriter (parse5)', () => {
  it('keeps links of the top document navigating the tab, and puts everything else in the tab\'s first party', () => {
    const out = rewriteHtml(`<a href="${S}/x">x</a><img src="//s.test/i.png"><a href="rel">r</a><a href="/root">r</a>`
      + `<img srcset="${S}/1.png 1x, ${S}/2.png 2x"><form action="https://s.test/post"></form><a href="mailto:a@b">m</a>`
      + `<iframe src="${S}/frame"></iframe>`, top);
    expect(out).toContain('href="/web/http/s.test/80/x"');
    expect(out).toContain(`src="${IN}/i.png"`);
    // Relative URLs are written out absolute: no "../" can climb out of the page's site.
    expect(out).toContain('href="/web/http/site.test/80/dir/rel"');
    expect(out).toContain('href="/web/http/site.test/80/root"');
    expect(out).toContain(`srcset="${IN}/1.png 1x, ${IN}/2.png 2x"`);
    expect(out).toContain('action="/web/https/s.test/443/post"');
    expect(out).toContain('href="mailto:a@b"');
    expect(out).toContain(`src="${IN}/frame"`);
  });

  it('keeps every link of a framed document in the tab\'s first party', () => {
    const out = rewriteHtml(`<a href="${S}/x">x</a><form action="/f"></form><meta http-equiv=refresh content="0; url=${S}/r">`, framed);
    expect(out).toContain(`href="${IN}/x"`);
    expect(out).toContain('action="/in/site.test/web/http/tracker.test/80/f"');
    expect(out).toContain(`content="0; url=${IN}/r"`);
  });

  it('reads attributes as the HTML tokenizer does: unquoted, entities, odd spacing, any case', () => {
    const out = rewriteHtml('<IMG SRC=http://s.test:81/x><a\nhref = \'//s.test/y\'>y</a><img src="http&#58;//s.test/z"><img src="ht\ttp://s.test/t">'
      + '<img src="&#x68;ttp://s.test/e"><a href=http:&sol;&sol;s.test/q>q</a><img/src="http://s.test/slash"><img src="\\\\s.test/bs">', top);
    expect(out).toContain('src="/in/site.test/web/http/s.test/81/x"');
    for (const p of ['z', 't', 'e', 'slash', 'bs']) expect(out).toContain(`src="${IN}/${p}"`);
    expect(out).toContain('href="/web/http/s.test/80/y"');
    expect(out).toContain('href="/web/http/s.test/80/q"');
    expect(direct(out)).toEqual([]);
  });

  it('covers every attribute that loads or navigates, and style sheets in the page', () => {
    const html = `<form action=${S}/f><button formaction="${S}/fa">b</button><input type=image src="${S}/i" formaction=${S}/fi></form>`
      + `<video poster="${S}/p"></video><body background="${S}/bg">`
      + `<object data="${S}/o"></object><embed src="${S}/e">`
      + `<iframe src="${S}/if"></iframe><iframe srcdoc="<img src=&quot;${S}/sd&quot;><a href=&quot;${S}/sdl&quot;>l</a>"></iframe>`
      + `<link rel=preload as=image imagesrcset="${S}/is1 1x, ${S}/is2 2x"><source srcset="${S}/a.png?x=1,2 100w, ${S}/b.png 200w">`
      + `<meta http-equiv="Refresh" content="5; URL='${S}/refresh'"><div style="background:url(${S}/st)"></div>`
      + `<style>@import "${S}/imp.css"; @import url(${S}/imp2.css); @font-face { font-family: x; src: url(${S}/f.woff2) format("woff2") }`
      + ` .a { background-image: image-set("${S}/1x.png" 1x, url(${S}/2x.png) 2x) }</style>`;
    const out = rewriteHtml(html, top);
    expect(direct(out)).toEqual([]);
    for (const p of ['f', 'fa', 'fi', 'refresh']) expect(out, p).toContain(`/web/http/s.test/80/${p}`);
    for (const p of ['i', 'p', 'bg', 'o', 'e', 'if', 'imp.css', 'imp2.css', 'f.woff2', '1x.png', '2x.png', 'st', 'is1', 'is2']) expect(out, p).toContain(`${IN}/${p}`);
    // The srcdoc frame is a frame: even its links stay in the tab's first party.
    expect(out).toContain(`srcdoc="&lt;html&gt;&lt;head&gt;&lt;/head&gt;&lt;body&gt;&lt;img src=&quot;${IN}/sd&quot;&gt;&lt;a href=&quot;${IN}/sdl&quot;&gt;l&lt;/a&gt;&lt;/body&gt;&lt;/html&gt;"`);
    expect(out).toContain(`srcset="${IN}/a.png?x=1,2 100w, ${IN}/b.png 200w"`);
    expect(out).toContain(`content="5; URL='/web/http/s.test/80/refresh'"`);
  });

  it('rewrites links inside SVG and MathML foreign content, and SMIL that animates an href', () => {
    const html = `<svg><a href="${S}/svg-a"><rect width=10 height=10 /></a><a xlink:href="${S}/svg-xlink">x</a>`
      + `<image href="${S}/svg-image"/><use href="${S}/use#i"/><feImage href="${S}/fe"/>`
      + `<a id=anim href="#"><set attributeName="href" to="${S}/smil-set"/><animate attributeName="xlink:href" values="${S}/smil-1;${S}/smil-2" begin=0s /></a>`
      + `<set href="#anim" attributeName=href to="${S}/smil-by-id"/>`
      + `<rect fill="url(${S}/paint.svg#g)" style="filter:url(${S}/filter.svg#f)"/>`
      + `<animate attributeName=fill from="url(${S}/from.svg#p)" to="red"/></svg>`
      + `<math><mi href="${S}/mathml">x</mi><mtext><a href="${S}/mathml-html">y</a></mtext></math>`;
    const out = rewriteHtml(html, top);
    expect(direct(out)).toEqual([]);
    for (const p of ['svg-a', 'svg-xlink', 'smil-set', 'smil-1', 'smil-2', 'smil-by-id', 'mathml', 'mathml-html']) expect(out, p).toContain(`/web/http/s.test/80/${p}`);
    for (const p of ['svg-image', 'use#i', 'fe', 'paint.svg#g', 'filter.svg#f', 'from.svg#p']) expect(out, p).toContain(`${IN}/${p}`);
    expect(out).toContain(`values="/web/http/s.test/80/smil-1;/web/http/s.test/80/smil-2"`);
  });

  it('sends no link out of the tab: other targets, scripts, handlers, ping and referrer tricks go', () => {
    const out = rewriteHtml(`<base href="${S}/b/" target=_top><meta name=referrer content=no-referrer><meta http-equiv=set-cookie content="a=1">`
      + `<iframe name=inner></iframe><a id=overlay href="${S}/o" target=_top style="position:fixed;inset:0">all</a>`
      + `<a href=x target=_blank>b</a><a href=y target=_parent>p</a><a href=z target=inner>f</a><a href=w target="unknown">u</a>`
      + `<form action=${S}/f target=_blank><button formtarget=_top formaction=${S}/g>g</button></form>`
      + `<svg><a href="${S}/s" target="_top">s</a></svg><a href="${S}/l" ping="${S}/ping" onclick="alert(1)" referrerpolicy=no-referrer attributionsrc="${S}/attr">l</a>`
      + `<script src="${S}/js"></script><svg><script href="${S}/svgjs"></script></svg><img src=a.png>`, top);
    expect(out).not.toMatch(/target="?_(top|blank|parent)/i);
    expect(out).not.toContain('target="unknown"');
    expect(out).toContain('target="inner"');
    // A link into a frame of the page loads a frame: in the tab's first party.
    expect(out).toContain('href="/in/site.test/web/http/s.test/80/b/z"');
    expect(out).toContain('href="/web/http/s.test/80/o"');
    expect(out).not.toMatch(/<script|onclick|ping=|referrerpolicy|attributionsrc|name="referrer"|set-cookie/i);
    // Relative URLs resolve against <base href>, which is then left without effect.
    expect(out).toContain(`src="${IN}/b/a.png"`);
    expect(out).toMatch(/<base>/);
  });

  it('reads <noscript> as the sandboxed page does (scripting disabled), and templates', () => {
    const out = rewriteHtml(`<noscript><img src="${S}/ns"></noscript><template><img src="${S}/tpl"></template>`, top);
    expect(out).toContain(`${IN}/ns`);
    expect(out).toContain(`${IN}/tpl`);
    expect(direct(out)).toEqual([]);
  });

  it('leaves text, comments and titles alone, and links to data:/javascript: documents inert', () => {
    const text = '<p>see http://s.test/ and url(http://s.test/)</p><!-- <img src="http://s.test/c"> --><title><img src="http://s.test/t"></title>'
      + '<textarea><a href="http://s.test/ta"></textarea>';
    const out = rewriteHtml(text, top);
    expect(out).toContain('<p>see http://s.test/ and url(http://s.test/)</p><!-- <img src="http://s.test/c"> -->');
    expect(out).toContain('<title>&lt;img src="http://s.test/t"&gt;</title>');
    expect(out).toContain('<textarea>&lt;a href="http://s.test/ta"&gt;</textarea>');
    const inert = rewriteHtml('<a href="data:text/html,<img src=x>">d</a><a href=" javascript:alert(1)">j</a><iframe src="blob:http://s.test/1"></iframe><img src="data:image/png;base64,AAAA"><a href="#here">h</a>', top);
    expect(inert).toContain('<a href="#">d</a><a href="#">j</a><iframe src="#"></iframe><img src="data:image/png;base64,AAAA"><a href="#here">h</a>');
  });

  it('parses srcset as HTML does', () => {
    const m = (u: string) => `[${u}]`;
    expect(rewriteSrcset('http://a.test/1.png, http://a.test/2.png 2x,,http://a.test/3.png', m)).toBe('[http://a.test/1.png], [http://a.test/2.png] 2x, [http://a.test/3.png]');
    expect(rewriteSrcset('a.png?x=1,2 100w, b.png 200w', m)).toBe('[a.png?x=1,2] 100w, [b.png] 200w');
  });

  it('never throws on arbitrary markup, and every http URL an element names ends up in the tab', () => {
    const markup = fc.array(fc.oneof(fc.string(), fc.constantFrom('<', '>', '"', "'", '=', ' ', '<a href=', '<img src="', '<svg>', '<math>', '<set attributeName=href to=', '<!--', '-->', '<style>', '</style>', '<title>', 'url(', '&#', 'http://x.test/', '//', '/'))).map((a) => a.join(''));
    fc.assert(fc.property(markup, (s) => {
      expect(typeof rewriteHtml(s, top)).toBe('string');
      expect(typeof sheet(s)).toBe('string');
    }));
  });
});

describe('the CSS rewriter (css-tree tokenizer)', () => {
  it('rewrites url(), url(""), @import, image-set() and src() whatever their case and escapes', () => {
    expect(sheet('body { background: url("http://img.test/b.png") } a { background: url(/x.png) } b { background: URL( rel.png ) }'))
      .toBe(`body { background: url("/in/site.test/web/http/img.test/80/b.png") } a { background: url("/in/site.test/web/http/site.test/80/x.png") } b { background: url("/in/site.test/web/http/site.test/80/dir/rel.png") }`);
    const out = sheet(`@im\\70ort "${S}/imp"; @import url(${S}/imp2) layer(x);`
      + `.a { background: url(http\\3a //s.test/escaped) } .b { background: u\\72l(${S}/fn-escaped) } .c { background: \\75 rl( "${S}/fn-quoted" ) }`
      + `.d { background-image: -webkit-image-set("${S}/set1" 1x, url(${S}/set2) 2x) } .e { background: src("${S}/src") }`
      + `@font-face { font-family: f; src: local("Name"), url(${S}/font) format("woff") }`);
    expect(direct(out)).toEqual([]);
    for (const p of ['imp', 'imp2', 'escaped', 'fn-escaped', 'fn-quoted', 'set1', 'set2', 'src', 'font']) expect(out, p).toContain(`${IN}/${p}`);
    expect(out).toContain('local("Name")');
    expect(out).toContain('format("woff")');
  });

  it('keeps fragment references and data: images, and leaves everything else as it was', () => {
    expect(sheet('a { fill: url(#grad); background: url(data:image/png;base64,AAAA) } /* url(http://s.test/) */ p::after { content: "url(http://s.test/)" }'))
      .toBe('a { fill: url("#grad"); background: url("data:image/png;base64,AAAA") } /* url(http://s.test/) */ p::after { content: "url(http://s.test/)" }');
  });

  it('drops a bad url() instead of passing it on', () => {
    expect(sheet('a { background: u\\72l(http://s.test/a b) } b { color: red }')).toBe('a { background: url() } b { color: red }');
  });
});
