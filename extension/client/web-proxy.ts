import { proxyPath, rewriteCss, rewriteHtml, webUrlOf } from '../../shared/http/proxy-url.ts';
import { TelescopeError } from '../../shared/errors.ts';
import type { ExtensionClient } from './service.ts';

declare const self: ServiceWorkerGlobalScope;

/**
 * The onion tab's network: the service worker answers every request for /web/… on its own origin
 * by fetching the page through Tor, and serves it with a strict Content-Security-Policy (no
 * scripts, nothing from elsewhere: DESIGN.md, the manifest CSP does not cover worker-built
 * responses). Absolute URLs in HTML and CSS are rewritten to /web/…; root-relative ones arrive here
 * as extension paths and are mapped with the referring page. Streams are isolated by first-party
 * site: a page and its subresources share circuits, two sites never do.
 */

const CSP = "default-src 'self'; script-src 'none'; object-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

function page(status: number, title: string, message: string): Response {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return new Response(`<!doctype html><meta charset="utf-8"><title>${esc(title)}</title><body style="font:15px system-ui;margin:2rem"><h1>${esc(title)}</h1><p>${esc(message)}</p>`, {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP },
  });
}

function charsetOf(contentType: string): string {
  return /charset=([\w-]+)/i.exec(contentType)?.[1] ?? 'utf-8';
}

/** Handle a fetch event if it is the onion tab's; returns false to let the browser serve it. */
export function handleWebFetch(event: FetchEvent, getClient: () => Promise<ExtensionClient>): boolean {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return false;
  if (!url.pathname.startsWith('/web/')) {
    // Chromium sends no referrer from extension documents, so the requesting document is found by
    // its client id. A root-relative URL in a proxied page ("/style.css") means that path on that
    // site; the extension's own files are served as they are.
    if (!event.clientId) return false;
    event.respondWith((async () => {
      const client = await self.clients.get(event.clientId);
      const from = client ? new URL(client.url) : undefined;
      const site = from && from.origin === self.location.origin ? webUrlOf(from.pathname + from.search) : undefined;
      if (!site) return fetch(event.request);
      // Concatenated, not resolved: a path such as "//x" must stay a path on that site.
      const mapped = proxyPath(new URL(`${site.origin}${url.pathname}${url.search}`));
      // A link followed must land on its /web/ address (so the page's own relative URLs resolve
      // there); a subresource is simply served (Chromium does not follow a worker's redirect for it).
      if (event.request.mode === 'navigate') return Response.redirect(`${self.location.origin}${mapped}`, 302);
      return serve(event.request, new URL(mapped, self.location.origin), site, getClient);
    })());
    return true;
  }
  event.respondWith((async () => {
    const client = event.clientId ? await self.clients.get(event.clientId) : undefined;
    const from = client ? new URL(client.url) : undefined;
    const fromWebPage = from && from.origin === self.location.origin ? webUrlOf(from.pathname + from.search) : undefined;
    return serve(event.request, url, fromWebPage, getClient);
  })());
  return true;
}

async function serve(request: Request, url: URL, fromWebPage: URL | undefined, getClient: () => Promise<ExtensionClient>): Promise<Response> {
  const target = webUrlOf(url.pathname + url.search);
  if (!target) return page(400, 'Not a web address', `${url.pathname} does not name a page.`);
  if (target.protocol === 'https:') return page(501, 'HTTPS is not supported yet', `Telescope cannot open ${target.href} yet: HTTPS through Tor comes with the next release.`);
  if (request.method !== 'GET' && request.method !== 'HEAD') return page(501, 'Not supported yet', `${request.method} requests (forms that post) are not supported yet.`);
  // First-party isolation: subresources ride with the page that asked for them.
  const site = request.mode === 'navigate' || !fromWebPage ? target.hostname : fromWebPage.hostname;
  let response;
  try {
    response = await (await getClient()).fetch(target.href, site);
  } catch (e) {
    if (!(e instanceof TelescopeError) && !(e instanceof Error)) throw e;
    return page(502, 'Could not reach the site through Tor', `${target.href}: ${e.message}`);
  }
  const headers = new Headers({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin' });
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    headers.set('Location', proxyPath(new URL(location, target)));
    return new Response(null, { status: response.status, headers });
  }
  const type = response.headers.get('content-type') ?? 'application/octet-stream';
  let body: Uint8Array = response.body;
  if (/^text\/(html|css)/i.test(type)) {
    const text = new TextDecoder(charsetOf(type)).decode(body);
    const rewritten = /^text\/html/i.test(type) ? rewriteHtml(text, target) : rewriteCss(text, target);
    body = new TextEncoder().encode(rewritten);
    headers.set('Content-Type', `${type.split(';')[0]}; charset=utf-8`);
  } else {
    headers.set('Content-Type', type);
  }
  return new Response(request.method === 'HEAD' ? null : (body as Uint8Array<ArrayBuffer>), { status: response.status, statusText: response.statusText, headers });
}
