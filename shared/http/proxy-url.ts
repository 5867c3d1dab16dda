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

const ABSOLUTE = /^(?:https?:)?\/\//i;

/** Map one URL as written in a page (relative ones stay: the browser resolves them under /web/). */
export function rewriteUrl(value: string, base: URL): string {
  const v = value.trim();
  if (!ABSOLUTE.test(v)) return value;
  try {
    const u = new URL(v, base);
    return u.protocol === 'http:' || u.protocol === 'https:' ? proxyPath(u) : value;
  } catch {
    return value;
  }
}

/**
 * Rewrite absolute URLs in HTML attributes that load or navigate (href, src, action, poster,
 * srcset) and in CSS url(...), so that nothing a page names leaves the extension. Root-relative
 * URLs ("/x") reach the worker as extension paths and are mapped there using the referring page.
 */
export function rewriteHtml(html: string, base: URL): string {
  const attrs = html.replace(/(\s(?:href|src|action|poster|data)\s*=\s*)(["'])(.*?)\2/gi, (_, pre: string, q: string, v: string) => `${pre}${q}${rewriteUrl(v, base)}${q}`)
    .replace(/(\ssrcset\s*=\s*)(["'])(.*?)\2/gi, (_, pre: string, q: string, v: string) => `${pre}${q}${v.split(',').map((part) => {
      const [u, ...rest] = part.trim().split(/\s+/);
      return [rewriteUrl(u ?? '', base), ...rest].join(' ');
    }).join(', ')}${q}`);
  return rewriteCss(attrs, base);
}

export function rewriteCss(css: string, base: URL): string {
  return css.replace(/url\(\s*(["']?)([^"')]*)\1\s*\)/gi, (_, q: string, v: string) => `url(${q}${rewriteUrl(v, base)}${q})`);
}
