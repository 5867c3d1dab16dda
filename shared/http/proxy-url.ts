import { UsageError } from '../errors.ts';

/**
 * How the onion tab names a page of the web inside the extension: every URL the person browses is
 * served by the service worker from its own origin, under /web/SCHEME/HOST/PORT/PATH, so that the
 * page, its links and its subresources stay inside the extension and go through Tor, and never
 * reach the browser's own network stack.
 */

const PREFIX = '/web/';

/** `http://example.com/a?b` → `/web/http/example.com/80/a?b` */
export function proxyPath(url: URL): string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`cannot browse ${url.protocol} URLs`);
  const scheme = url.protocol.slice(0, -1);
  const port = url.port || (scheme === 'https' ? '443' : '80');
  return `${PREFIX}${scheme}/${url.hostname}/${port}${url.pathname}${url.search}`;
}

/** The web URL a /web/… path (with its query) stands for, or undefined if it is not one. */
export function webUrlOf(pathAndQuery: string): URL | undefined {
  if (!pathAndQuery.startsWith(PREFIX)) return undefined;
  const m = /^\/web\/(https?)\/([^/]+)\/(\d{1,5})(\/[^?#]*)?(\?[^#]*)?$/.exec(pathAndQuery);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const defaultPort = m[1] === 'https' ? 443 : 80;
  try {
    return new URL(`${m[1]}://${m[2]}${port === defaultPort ? '' : `:${port}`}${m[4] ?? '/'}${m[5] ?? ''}`);
  } catch {
    return undefined;
  }
}

/** What the URL parser ignores: tabs and newlines anywhere, C0 controls and spaces at the ends. */
function cleanUrl(value: string): string {
  return value.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
}

/** Schemes that would put a document into the tab that the worker does not serve. */
const INERT_NAVIGATION = /^(?:javascript|data|blob|filesystem|vbscript):/i;

/**
 * Map one URL as written in a page to where the onion tab must ask for it. Anything that names a
 * host or a root ("http://", "//", "/", and "\" which http: treats as "/") becomes a /web/ path,
 * resolved against the page's real address; a relative URL stays (the browser resolves it under
 * the page's /web/ address, which is right) unless `relative` asks for it too (after a <base>).
 * Other schemes (mailto:, data: images) stay as they are.
 */
export function rewriteUrl(value: string, base: URL, relative = false): string {
  const v = cleanUrl(value);
  const scheme = /^[a-z][a-z0-9+.-]*:/i.test(v);
  if (!scheme && !/^[\\/]/.test(v) && !(relative && v !== '' && !v.startsWith('#'))) return value;
  try {
    const u = new URL(v, base);
    return u.protocol === 'http:' || u.protocol === 'https:' ? proxyPath(u) + u.hash : value;
  } catch {
    return value;
  }
}

// --- HTML ---

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', AMP: '&', lt: '<', LT: '<', gt: '>', GT: '>', quot: '"', QUOT: '"', apos: "'", nbsp: '\u00a0',
  colon: ':', sol: '/', bsol: '\\', Tab: '\t', NewLine: '\n', period: '.', quest: '?', num: '#', equals: '=',
  percnt: '%', commat: '@', lpar: '(', rpar: ')', excl: '!', semi: ';', comma: ',', lowbar: '_', plus: '+',
};

/** Character references in an attribute value, as far as they can matter for a URL. */
function decodeEntities(s: string): string {
  return s.replace(/&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));?/g, (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (name !== undefined) return NAMED_ENTITIES[name] ?? whole;
    const cp = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp);
  });
}

const encodeAttr = (s: string) => `"${s.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`;

/** Attributes whose value is one URL the browser loads or navigates to. */
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'poster', 'data', 'background', 'cite', 'longdesc', 'icon', 'manifest', 'codebase', 'usemap', 'lowsrc', 'dynsrc', 'profile', 'xlink:href', 'classid']);
/** Attributes holding several URLs separated by spaces (ping: hyperlink auditing). */
const URL_LIST_ATTRS = new Set(['ping', 'archive']);
const SRCSET_ATTRS = new Set(['srcset', 'imagesrcset']);
/** Elements whose content the browser treats as text: nothing in them is markup. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'noembed', 'noframes']);

export function rewriteSrcset(value: string, base: URL, relative = false): string {
  // HTML's srcset parser: a URL runs to whitespace (a trailing comma ends the candidate), then
  // descriptors run to a comma outside parentheses.
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /[\s,]/.test(value[i]!)) i++;
    if (i >= value.length) break;
    let j = i;
    while (j < value.length && !/\s/.test(value[j]!)) j++;
    let url = value.slice(i, j);
    let descriptors = '';
    if (url.endsWith(',')) {
      url = url.replace(/,+$/, '');
    } else {
      let depth = 0;
      let k = j;
      while (k < value.length && !(value[k] === ',' && depth === 0)) {
        if (value[k] === '(') depth++;
        else if (value[k] === ')') depth = Math.max(0, depth - 1);
        k++;
      }
      descriptors = value.slice(j, k).trim();
      j = k + 1;
    }
    out.push(descriptors ? `${rewriteUrl(url, base, relative)} ${descriptors}` : rewriteUrl(url, base, relative));
    i = j;
  }
  return out.join(', ');
}

/** `0; url=http://…` of <meta http-equiv=refresh>: only the URL changes. */
function rewriteRefresh(value: string, base: URL, relative: boolean): string {
  const m = /^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(["']?)(.*?)(\2\s*)$/is.exec(value);
  if (!m || !m[3]) return value;
  const url = m[3];
  const mapped = INERT_NAVIGATION.test(cleanUrl(url)) ? '#' : rewriteUrl(url, base, relative);
  return `${m[1]}${m[2]}${mapped}${m[4]}`;
}

interface Attr { name: string; start: number; end: number; value: string | undefined }

/**
 * Rewrite every URL a page names in markup so that it reaches the worker (and so Tor): attributes
 * that load or navigate (href, src, action, formaction, poster, srcset, ping, background, SVG
 * xlink:href, <meta http-equiv=refresh>, <iframe srcdoc>), inline styles and <style> sheets. The
 * attributes are read as the HTML tokenizer reads them (unquoted values, character references,
 * tabs inside a scheme), so the URL rewritten is the URL the browser would see. Links to data:,
 * javascript: and blob: documents are made inert: such a document would not be served by the
 * worker. What this misses is still held by the CSP the worker sets and by the network rule that
 * blocks direct requests from extension pages; this is what makes pages work, not what keeps them in.
 */
export function rewriteHtml(html: string, base: URL): string {
  let out = '';
  let i = 0;
  let docBase = base;
  // After a <base href>, relative URLs resolve against it: the browser would not (base-uri 'none'),
  // so they are written out absolute.
  let relative = false;
  const tagName = /<([a-zA-Z][^\s/>]*)/y;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      out += html.slice(i);
      break;
    }
    out += html.slice(i, lt);
    if (html.startsWith('<!--', lt)) {
      // A comment ends where the tokenizer ends it, never later: "<!-->", "<!--->", "-->", "--!>".
      let stop: number;
      if (html.startsWith('>', lt + 4)) stop = lt + 5;
      else if (html.startsWith('->', lt + 4)) stop = lt + 6;
      else {
        const a = html.indexOf('-->', lt + 4);
        const b = html.indexOf('--!>', lt + 4);
        stop = a < 0 && b < 0 ? html.length : a < 0 ? b + 4 : b < 0 ? a + 3 : Math.min(a + 3, b + 4);
      }
      out += html.slice(lt, stop);
      i = stop;
      continue;
    }
    tagName.lastIndex = lt;
    const m = tagName.exec(html);
    if (!m) {
      out += '<';
      i = lt + 1;
      continue;
    }
    const name = m[1]!.toLowerCase();
    // Attributes, as the tokenizer's attribute states read them.
    const attrs: Attr[] = [];
    let p = lt + m[0].length;
    let closed = false;
    while (p < html.length) {
      while (p < html.length && /[\t\n\f\r /]/.test(html[p]!)) p++;
      if (p >= html.length) break;
      if (html[p] === '>') {
        closed = true;
        p++;
        break;
      }
      const nameStart = p;
      p++; // the first character may be "="
      while (p < html.length && !/[\t\n\f\r />=]/.test(html[p]!)) p++;
      const attrName = html.slice(nameStart, p).toLowerCase();
      let q = p;
      while (q < html.length && /[\t\n\f\r ]/.test(html[q]!)) q++;
      if (html[q] !== '=') {
        attrs.push({ name: attrName, start: p, end: p, value: undefined });
        continue;
      }
      q++;
      while (q < html.length && /[\t\n\f\r ]/.test(html[q]!)) q++;
      const quote = html[q];
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, q + 1);
        const end = close < 0 ? html.length : close + 1;
        attrs.push({ name: attrName, start: q, end, value: html.slice(q + 1, close < 0 ? html.length : close) });
        p = end;
      } else {
        let e = q;
        while (e < html.length && !/[\t\n\f\r >]/.test(html[e]!)) e++;
        attrs.push({ name: attrName, start: q, end: e, value: html.slice(q, e) });
        p = e;
      }
    }
    const raw = (a: Attr | undefined) => (a?.value === undefined ? undefined : decodeEntities(a.value));
    const find = (n: string) => attrs.find((a) => a.name === n);
    if (name === 'base' && !relative) {
      const href = raw(find('href'));
      if (href !== undefined) {
        try {
          const b = new URL(cleanUrl(href), base);
          if (b.protocol === 'http:' || b.protocol === 'https:') {
            docBase = b;
            relative = true;
          }
        } catch { /* an unusable base changes nothing, as in the browser */ }
      }
    }
    const navigates = name === 'a' || name === 'area' || name === 'iframe' || name === 'frame' || name === 'form' || name === 'button' || name === 'input' || name === 'object' || name === 'embed';
    let tag = '';
    let from = lt;
    for (const a of attrs) {
      const v = raw(a);
      if (v === undefined) continue;
      let mapped: string | undefined;
      if (URL_ATTRS.has(a.name)) {
        const inert = navigates && a.name !== 'poster' && INERT_NAVIGATION.test(cleanUrl(v)) && !(name === 'input' && a.name === 'src');
        mapped = inert ? '#' : rewriteUrl(v, docBase, relative);
      } else if (URL_LIST_ATTRS.has(a.name)) {
        mapped = v.split(/[\s,]+/).filter(Boolean).map((u) => rewriteUrl(u, docBase, relative)).join(' ');
      } else if (SRCSET_ATTRS.has(a.name)) {
        mapped = rewriteSrcset(v, docBase, relative);
      } else if (a.name === 'style') {
        mapped = rewriteCss(v, docBase);
      } else if (a.name === 'srcdoc') {
        mapped = rewriteHtml(v, docBase);
      } else if (a.name === 'content' && name === 'meta' && /^\s*refresh\s*$/i.test(raw(find('http-equiv')) ?? '')) {
        mapped = rewriteRefresh(v, docBase, relative);
      }
      if (mapped === undefined || mapped === v) continue;
      tag += html.slice(from, a.start) + encodeAttr(mapped);
      from = a.end;
    }
    tag += html.slice(from, p);
    out += tag;
    i = p;
    if (closed && RAW_TEXT.has(name)) {
      // Raw text runs to the first matching end tag, as in the tokenizer (never past it).
      const endTag = new RegExp(`</${name}[\\t\\n\\f\\r />]`, 'ig');
      endTag.lastIndex = i;
      const e = endTag.exec(html);
      const stop = e ? e.index : html.length;
      const text = html.slice(i, stop);
      out += name === 'style' ? rewriteCss(text, docBase) : text;
      i = stop;
    }
  }
  return out;
}

// --- CSS ---

/**
 * Rewrite the URLs of a style sheet (or a style attribute): url(…), @import "…" and the strings of
 * image-set(…). Root-relative ones too, since a sheet served under /web/ would otherwise ask the
 * extension's own origin for them.
 */
export function rewriteCss(css: string, base: URL): string {
  return css
    .replace(/url\(\s*(["']?)([^"')]*)\1\s*\)/gi, (_, q: string, v: string) => `url(${q}${rewriteUrl(v, base)}${q})`)
    .replace(/(@import\s+)(["'])([^"']*)\2/gi, (_, pre: string, q: string, v: string) => `${pre}${q}${rewriteUrl(v, base)}${q}`)
    .replace(/((?:-webkit-)?image-set\()([^()]*(?:\([^()]*\)[^()]*)*)\)/gi, (_, pre: string, inner: string) =>
      `${pre}${inner.replace(/(["'])([^"']*)\1/g, (__, q: string, v: string) => `${q}${rewriteUrl(v, base)}${q}`)})`);
}
