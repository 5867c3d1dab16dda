import browser from 'webextension-polyfill';
import { proxyPath, rewriteCss, rewriteHtml, webUrlOf } from '../../shared/http/proxy-url.ts';
import { TelescopeError } from '../../shared/errors.ts';
import { OnionServiceError, type OnionFailure } from '../../shared/onion/client.ts';
import type { KeyValueStore } from '../../shared/storage.ts';
import { CookieJar, type RequestContext } from './cookie-jar.ts';
import type { ExtensionClient } from './service.ts';

declare const self: ServiceWorkerGlobalScope;

/**
 * The onion tab's network: the service worker answers every request for /web/… on its own origin
 * by fetching the page through Tor, and serves it with a strict Content-Security-Policy (no
 * scripts, nothing from elsewhere: DESIGN.md, the manifest CSP does not cover worker-built
 * responses). URLs in HTML and CSS are rewritten to /web/…; root-relative ones that escape the
 * rewriting arrive here as extension paths and are mapped with the referring page. Streams are
 * isolated by first-party site: a page and its subresources share circuits, two sites never do.
 *
 * Requests go out with the method, body and Content-Type the page built (forms that post) and with
 * headers chosen here, never the browser's: no User-Agent, no Accept-Language, no Cookie from the
 * browser's jar. Cookies come from the worker's own jar (cookie-jar.ts), partitioned by first
 * party, and Set-Cookie never reaches the browser.
 */

/**
 * Inline styles are allowed: CSS can only fetch through url(), which img-src and font-src keep on
 * the worker ('self'), and data: images and fonts cannot reach any network.
 */
const CSP = "default-src 'self'; script-src 'none'; object-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'; "
  + "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:";

/** What the onion tab accepts, by kind of request: fixed values, so they say nothing about the browser. */
const ACCEPT: Partial<Record<RequestDestination, string>> = {
  document: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  iframe: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  frame: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  image: 'image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5',
  style: 'text/css,*/*;q=0.1',
};

/** What a person reads first when an onion service cannot be reached (the message says more). */
const ONION_FAILURE_TITLES: Record<OnionFailure, string> = {
  'descriptor-not-found': 'Onion service not found (descriptor not found)',
  'descriptor-invalid': 'The onion service\'s descriptor is not valid',
  'needs-client-auth': 'This onion service needs client authorization',
  'bad-client-auth': 'This onion service does not accept your client key',
  'service-offline': 'The onion service is offline',
  'introduction-failed': 'The onion service did not answer (service offline?)',
  'rendezvous-failed': 'Could not meet the onion service at a rendezvous point',
};

function page(status: number, title: string, message: string): Response {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return new Response(`<!doctype html><meta charset="utf-8"><title>${esc(title)}</title><body style="font:15px system-ui;margin:2rem"><h1>${esc(title)}</h1><p>${esc(message)}</p>`, {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP },
  });
}

function decoderFor(contentType: string): TextDecoder {
  const label = /charset=["']?([\w.:-]+)/i.exec(contentType)?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(label);
  } catch {
    // An unknown label: the WHATWG default for the web.
    return new TextDecoder('utf-8');
  }
}

// --- cookies ---

/**
 * The jar lives in storage.session: it survives the worker's restarts (it dies after ~30 s idle)
 * but not the browser's, like Tor Browser, which keeps no cookies from one session to the next.
 */
const sessionStore: KeyValueStore = {
  async get(key) {
    const v = (await browser.storage.session.get(key))[key];
    return typeof v === 'string' ? v : undefined;
  },
  async set(key, value) {
    await browser.storage.session.set({ [key]: value });
  },
  async delete(key) {
    await browser.storage.session.remove(key);
  },
};

let jar: Promise<CookieJar> | undefined;

function cookieJar(): Promise<CookieJar> {
  jar ??= CookieJar.load(sessionStore).catch(async (e: unknown) => {
    // A damaged record must not stop browsing; its cookies are lost, and that is said.
    console.warn(`Telescope: cookie store unreadable, starting empty: ${e instanceof Error ? e.message : String(e)}`);
    await sessionStore.delete('cookies');
    return new CookieJar(sessionStore);
  });
  return jar;
}

/** "New identity": every cookie of every site goes, in memory and in storage. */
export async function clearCookies(): Promise<void> {
  await (await cookieJar()).clear();
}

/** An approximation of the registrable domain (there is no public-suffix list here), for SameSite. */
function siteOf(host: string): string {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')) return host;
  return host.split('.').slice(-2).join('.');
}

// --- requests ---

/** The /web/ page a request comes from: its client (subresources), else its referrer (navigations). */
async function referringPage(event: FetchEvent): Promise<URL | undefined> {
  const client = event.clientId ? await self.clients.get(event.clientId) : undefined;
  const candidates = [client?.url, event.request.referrer];
  for (const c of candidates) {
    if (!c || !URL.canParse(c)) continue;
    const from = new URL(c);
    if (from.origin !== self.location.origin) continue;
    const web = webUrlOf(from.pathname + from.search);
    if (web) return web;
  }
  return undefined;
}

/** Handle a fetch event if it is the onion tab's; returns false to let the browser serve it. */
export function handleWebFetch(event: FetchEvent, getClient: () => Promise<ExtensionClient>): boolean {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return false;
  if (!url.pathname.startsWith('/web/')) {
    // A root-relative URL the rewriting did not see ("/style.css" built some other way) means that
    // path on the referring page's site; the extension's own files are served as they are.
    if (!event.clientId && !event.request.referrer) return false;
    event.respondWith((async () => {
      const site = await referringPage(event);
      if (!site) return fetch(event.request);
      // Concatenated, not resolved: a path such as "//x" must stay a path on that site.
      const mapped = proxyPath(new URL(`${site.origin}${url.pathname}${url.search}`));
      // A link followed must land on its /web/ address (so the page's own relative URLs resolve
      // there), a form that posts too, with its body (307 keeps method and body); a subresource is
      // simply served (Chromium does not follow a worker's redirect for it).
      if (event.request.mode === 'navigate') return Response.redirect(`${self.location.origin}${mapped}`, /^(GET|HEAD)$/.test(event.request.method) ? 302 : 307);
      return serve(event.request, new URL(mapped, self.location.origin), site, getClient);
    })());
    return true;
  }
  event.respondWith((async () => serve(event.request, url, await referringPage(event), getClient))());
  return true;
}

async function serve(request: Request, url: URL, fromWebPage: URL | undefined, getClient: () => Promise<ExtensionClient>): Promise<Response> {
  const target = webUrlOf(url.pathname + url.search);
  if (!target) return page(400, 'Not a web address', `${url.pathname} does not name a page.`);
  const navigation = request.mode === 'navigate';
  // First-party isolation: subresources ride with the page that asked for them.
  const site = navigation || !fromWebPage ? target.hostname : fromWebPage.hostname;
  const method = request.method;
  const headers: Record<string, string> = { Accept: ACCEPT[request.destination] ?? '*/*' };
  let body: Uint8Array | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    // The body exactly as the browser encoded the form (urlencoded, multipart with its boundary).
    body = new Uint8Array(await request.arrayBuffer());
    const type = request.headers.get('content-type');
    if (type) headers['Content-Type'] = type;
    // What a browser says on a post, so that CSRF checks pass; the page's own web origin, never
    // the extension's.
    if (fromWebPage) headers.Origin = fromWebPage.origin;
  }
  const cookies = await cookieJar();
  const ctx: RequestContext = { firstParty: site, sameSite: siteOf(target.hostname) === siteOf(site), navigation, method };
  // The browser's own Cookie header (there is none for the extension's origin) is never read.
  const cookie = cookies.cookieHeader(target, ctx);
  if (cookie) headers.Cookie = cookie;
  let response;
  try {
    response = await (await getClient()).request({ method, url: target, headers, ...(body ? { body } : {}) }, site);
  } catch (e) {
    if (!(e instanceof TelescopeError) && !(e instanceof Error)) throw e;
    if (e instanceof OnionServiceError) return page(502, ONION_FAILURE_TITLES[e.kind], e.message);
    return page(502, 'Could not reach the site through Tor', `${target.href}: ${e.message}`);
  }
  // A response that redirects may set cookies too (a login answered with 303 does).
  cookies.setFromResponse(target, response.headers.get('set-cookie'), ctx);
  // Built from nothing: no header of the site's reaches the browser unless named here, so
  // Set-Cookie, CSP relaxations, Refresh and the like never do.
  const out = new Headers({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin' });
  if (response.status < 200 || response.status > 599) return page(502, 'Unusable answer', `${target.href} answered with status ${response.status}.`);
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    try {
      out.set('Location', proxyPath(new URL(location, target)));
    } catch (e) {
      if (!(e instanceof TelescopeError) && !(e instanceof TypeError)) throw e;
      return page(502, 'Redirect the tab cannot follow', `${target.href} redirects to ${location.slice(0, 200)}, which is not an http(s) address.`);
    }
    // 303 and 302 after a post land on a GET of the new page; 307 and 308 post again, as the site asks.
    return new Response(null, { status: response.status, headers: out });
  }
  const rawType = response.headers.get('content-type') ?? 'application/octet-stream';
  const type = /^[\t\x20-\x7e]*$/.test(rawType) ? rawType : 'application/octet-stream';
  let data: Uint8Array = response.body;
  if (/^(text\/(html|css)|application\/xhtml\+xml|image\/svg\+xml)/i.test(type)) {
    const text = decoderFor(type).decode(data);
    const rewritten = /^text\/css/i.test(type) ? rewriteCss(text, target) : rewriteHtml(text, target);
    data = new TextEncoder().encode(rewritten);
    out.set('Content-Type', `${type.split(';')[0]}; charset=utf-8`);
  } else {
    out.set('Content-Type', type);
  }
  const noBody = method === 'HEAD' || [204, 205, 304].includes(response.status);
  return new Response(noBody ? null : (data as Uint8Array<ArrayBuffer>), {
    status: response.status,
    statusText: response.statusText.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''),
    headers: out,
  });
}
