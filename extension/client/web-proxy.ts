import browser from 'webextension-polyfill';
import { TelescopeError } from '../../shared/util/index.ts';
import { OnionServiceError, type OnionFailure } from '../../shared/onion/index.ts';
import type { KeyValueStore } from '../../shared/util/index.ts';
import { CookieJar, requestContext } from './cookie-jar.ts';
import { rewriteCss } from './rewrite-css.ts';
import { rewriteHtml } from './rewrite-html.ts';
import { firstPartyOf, mapUrl, parseTabPath, tabPath, type PageContext, type TabTarget } from './tab-path.ts';
import type { ExtensionClient } from './service.ts';

declare const self: ServiceWorkerGlobalScope;

/**
 * The onion tab's network: the service worker answers every request for /web/… and /in/… on its
 * own origin (tab-path.ts) by fetching the page through Tor, and serves it with a strict
 * Content-Security-Policy that also sandboxes it (no scripts, no popups, no top navigation, nothing
 * from elsewhere: the manifest's CSP does not cover responses the worker builds). HTML is
 * rewritten by an HTML5 parser and CSS by a CSS tokenizer so that what a page names comes back
 * here; root-relative URLs that escape the rewriting arrive as extension paths and are mapped with
 * the document that asked. Everything in a tab (its frames, their subresources and forms) belongs
 * to the tab's top-level site: one cookie partition and one circuit isolation key per first party.
 *
 * Requests go out with the method, body and Content-Type the page built (forms that post) and with
 * headers chosen here, never the browser's: no User-Agent, no Accept-Language, no Cookie from the
 * browser's jar. Cookies come from the worker's own jar (cookie-jar.ts), partitioned by first
 * party and sent by SameSite as browsers send them, and Set-Cookie never reaches the browser.
 */

/**
 * Inline styles are allowed: CSS can only fetch through url(), which img-src and font-src keep on
 * the worker ('self'), and data: images and fonts cannot reach any network. `sandbox` without
 * allow-scripts, allow-popups or allow-top-navigation: the page cannot run anything, open a window
 * or replace the onion tab, whatever its markup; allow-same-origin keeps it on the extension's
 * origin, where this worker serves it (an opaque-origin document would not be served by the worker,
 * and the network rule that names the extension as initiator would not match its requests).
 */
const CSP = "default-src 'self'; script-src 'none'; object-src 'none'; worker-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'; "
  + "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; sandbox allow-same-origin allow-forms";

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

// --- requests ---

/** The onion-tab document a request comes from, or that the person made it (their own UI). */
interface Requester {
  /** The tab path of the document that asked (a subresource's client, a navigation's referrer). */
  readonly doc: TabTarget | undefined;
  /** A navigation started from the extension's own pages (the address field of the onion tab). */
  readonly person: boolean;
}

/**
 * Who asked: the request's client is the document that made it (a navigation's too: the fetch
 * event names the initiating document, and a page cannot withhold that as it can its referrer);
 * the referrer is only the fallback when that document is gone.
 */
async function requesterOf(event: FetchEvent): Promise<Requester> {
  const navigation = event.request.mode === 'navigate';
  const own = (address: string): Requester | undefined => {
    if (!URL.canParse(address)) return undefined;
    const from = new URL(address);
    if (from.origin !== self.location.origin) return undefined;
    const doc = parseTabPath(from.pathname + from.search);
    // Only the extension's own pages (the onion tab's address field) are of this origin and no tab path.
    return doc ? { doc, person: false } : { doc: undefined, person: navigation };
  };
  const client = event.clientId ? await self.clients.get(event.clientId) : undefined;
  const fromClient = client ? own(client.url) : undefined;
  if (fromClient) return fromClient;
  const fromReferrer = event.request.referrer ? own(event.request.referrer) : undefined;
  return fromReferrer ?? { doc: undefined, person: false };
}

const redirect = (to: string, method: string) =>
  // 307 keeps a form's method and body.
  Response.redirect(new URL(to, self.location.href).href, /^(GET|HEAD)$/.test(method) ? 302 : 307);

/** Handle a fetch event if it is the onion tab's; returns false to let the browser serve it. */
export function handleWebFetch(event: FetchEvent, getClient: () => Promise<ExtensionClient>): boolean {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return false;
  const target = parseTabPath(url.pathname + url.search);
  if (target) {
    event.respondWith((async () => serve(event.request, target, await requesterOf(event), getClient))());
    return true;
  }
  if (url.pathname.startsWith('/web/') || url.pathname.startsWith('/in/')) {
    event.respondWith(Promise.resolve(page(400, 'Not a web address', `${url.pathname} does not name a page.`)));
    return true;
  }
  // A root-relative URL the rewriting did not see ("/style.css" built some other way) means that
  // path on the requesting document's site; the extension's own files are served as they are.
  if (!event.clientId && !event.request.referrer) return false;
  event.respondWith((async () => {
    const from = await requesterOf(event);
    if (!from.doc) return fetch(event.request);
    // Concatenated, not resolved: a path such as "//x" must stay a path on that site.
    const mapped = new URL(`${from.doc.url.origin}${url.pathname}${url.search}`);
    const navigatesTop = event.request.mode === 'navigate' && from.doc.firstParty === undefined;
    const t: TabTarget = { url: mapped, firstParty: navigatesTop ? undefined : firstPartyOf(from.doc) };
    // A link followed must land on its tab path (so the page's own relative URLs resolve there); a
    // subresource is simply served (Chromium does not follow a worker's redirect for it).
    if (event.request.mode === 'navigate') return redirect(tabPath(t.url, t.firstParty), event.request.method);
    return serve(event.request, t, from, getClient);
  })());
  return true;
}

async function serve(request: Request, target: TabTarget, from: Requester, getClient: () => Promise<ExtensionClient>): Promise<Response> {
  const navigation = request.mode === 'navigate';
  const method = request.method;
  const url = target.url;
  let firstParty: string;
  const topLevel = navigation && target.firstParty === undefined;
  if (topLevel) {
    // A frame navigates only itself and the frames inside it (the sandbox forbids the rest), so a
    // frame's page is never a top document: it stays in its tab's first party.
    if (from.doc?.firstParty !== undefined) return redirect(tabPath(url, from.doc.firstParty), method);
    firstParty = url.hostname;
  } else {
    firstParty = target.firstParty ?? (from.doc ? firstPartyOf(from.doc) : url.hostname);
    // A page may not borrow another site's jar and circuits by naming its tab path.
    if (from.doc && firstPartyOf(from.doc) !== firstParty) return page(403, 'Not this tab\'s address', `${url.href} was asked for as part of ${firstParty}, from a page of ${firstPartyOf(from.doc)}.`);
  }
  const headers: Record<string, string> = { Accept: ACCEPT[request.destination] ?? '*/*' };
  let body: Uint8Array | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    // The body exactly as the browser encoded the form (urlencoded, multipart with its boundary).
    body = new Uint8Array(await request.arrayBuffer());
    const type = request.headers.get('content-type');
    if (type) headers['Content-Type'] = type;
    // What a browser says on a post, so that CSRF checks pass; the page's own web origin, never
    // the extension's.
    if (from.doc) headers.Origin = from.doc.url.origin;
  }
  const cookies = await cookieJar();
  const ctx = requestContext({ url, firstParty, topLevelNavigation: topLevel, method, initiator: from.person ? null : from.doc?.url.hostname });
  // The browser's own Cookie header (there is none for the extension's origin) is never read.
  const cookie = cookies.cookieHeader(url, ctx);
  if (cookie) headers.Cookie = cookie;
  let response;
  try {
    response = await (await getClient()).request({ method, url, headers, ...(body ? { body } : {}) }, firstParty);
  } catch (e) {
    if (!(e instanceof TelescopeError) && !(e instanceof Error)) throw e;
    if (e instanceof OnionServiceError) return page(502, ONION_FAILURE_TITLES[e.failure], e.message);
    return page(502, 'Could not reach the site through Tor', `${url.href}: ${e.message}`);
  }
  // A response that redirects may set cookies too (a login answered with 303 does).
  cookies.setFromResponse(url, response.headers.get('set-cookie'), ctx);
  // Built from nothing: no header of the site's reaches the browser unless named here, so
  // Set-Cookie, CSP relaxations, Refresh and the like never do.
  const out = new Headers({ 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin' });
  if (response.status < 200 || response.status > 599) return page(502, 'Unusable answer', `${url.href} answered with status ${response.status}.`);
  const location = response.headers.get('location');
  if (response.status >= 300 && response.status < 400 && location) {
    try {
      out.set('Location', tabPath(new URL(location, url), topLevel ? undefined : firstParty));
    } catch (e) {
      if (!(e instanceof TelescopeError) && !(e instanceof TypeError)) throw e;
      return page(502, 'Redirect the tab cannot follow', `${url.href} redirects to ${location.slice(0, 200)}, which is not an http(s) address.`);
    }
    // 303 and 302 after a post land on a GET of the new page; 307 and 308 post again, as the site asks.
    return new Response(null, { status: response.status, headers: out });
  }
  const rawType = response.headers.get('content-type') ?? 'application/octet-stream';
  const type = /^[\t\x20-\x7e]*$/.test(rawType) ? rawType : 'application/octet-stream';
  let data: Uint8Array = response.body;
  const css = /^text\/css\s*(;|$)/i.test(type);
  // A document in the tab is always HTML as parsed here: an XML one (XHTML, SVG, anything +xml) is
  // read by the HTML parser too, so that no XML feature (xml-stylesheet, xml:base) is left unread.
  // An SVG image stays as it is: an image loads nothing and runs nothing.
  const html = /^text\/html\s*(;|$)/i.test(type) || (navigation && /^[^;]*[/+]xml\s*(;|$)/i.test(type));
  if (css || html) {
    const text = decoderFor(type).decode(data);
    const pageContext: PageContext = { url, firstParty, topLevel };
    const rewritten = css ? rewriteCss(text, (u) => mapUrl(u, url, pageContext, 'load')) : rewriteHtml(text, pageContext);
    data = new TextEncoder().encode(rewritten);
    out.set('Content-Type', `${css ? 'text/css' : 'text/html'}; charset=utf-8`);
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
