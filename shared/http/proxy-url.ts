import { UsageError } from '../util/index.ts';

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
