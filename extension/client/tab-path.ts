import { proxyPath, webUrlOf } from '../../shared/http/index.ts';

/**
 * Where things of the onion tab live on the extension's origin, and whose tab they belong to.
 *
 * The tab's top document is served at /web/SCHEME/HOST/PORT/PATH (shared/http/proxy-url.ts): its
 * first party is its own host. Everything else a page loads (frames, images, style sheets, fonts,
 * a form inside a frame) is served at /in/FIRSTPARTY/web/…: the first party of everything in a tab
 * is the tab's top-level site, so a tracker framed on two sites gets two cookie jars and two
 * circuits, and the worker reads whose tab a request belongs to from the request itself (a frame's
 * relative URLs resolve under its own /in/… address and keep it). The page's own markup never
 * decides this: the worker checks the first party against the document that asked (web-proxy.ts).
 */

const IN_PREFIX = '/in/';

/** A web URL as the onion tab names it, and the tab's first party when it is not the top document. */
export interface TabTarget {
  readonly url: URL;
  /** The tab's first party (the top document's host), for frames and subresources; undefined for the top document. */
  readonly firstParty: string | undefined;
}

/** `/web/…` for the tab's top document (firstParty undefined), `/in/FIRSTPARTY/web/…` for the rest. */
export function tabPath(url: URL, firstParty?: string): string {
  const web = proxyPath(url);
  return firstParty === undefined ? web : `${IN_PREFIX}${firstParty}${web}`;
}

/** What a path (with its query) of the extension's origin names, or undefined if it names no web page. */
export function parseTabPath(pathAndQuery: string): TabTarget | undefined {
  if (pathAndQuery.startsWith(IN_PREFIX)) {
    const slash = pathAndQuery.indexOf('/', IN_PREFIX.length);
    if (slash < 0) return undefined;
    const firstParty = pathAndQuery.slice(IN_PREFIX.length, slash);
    const url = webUrlOf(pathAndQuery.slice(slash));
    // A host name as URL.hostname writes it (lower case, IPv6 in brackets), nothing else.
    if (!url || !/^(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])$/.test(firstParty)) return undefined;
    return { url, firstParty };
  }
  const url = webUrlOf(pathAndQuery);
  return url ? { url, firstParty: undefined } : undefined;
}

/** The first party of a document at a tab path: the tab's, or its own host for the top document. */
export function firstPartyOf(target: TabTarget): string {
  return target.firstParty ?? target.url.hostname;
}

/** What the parser of URLs ignores: tabs and newlines anywhere, C0 controls and spaces at the ends. */
export function cleanUrl(value: string): string {
  return value.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
}

/** Schemes that would put a document into the tab that the worker does not serve. */
const INERT_NAVIGATION = /^(?:javascript|data|blob|filesystem|vbscript):/i;
/** Schemes that never name something a page may load, whatever the element. */
const NEVER_LOADED = /^(?:javascript|blob|filesystem|vbscript):/i;

/** A document being rewritten: its real address, and the tab it is shown in. */
export interface PageContext {
  /** The document's real web address (relative URLs resolve against it, or against its <base href>). */
  readonly url: URL;
  /** The tab's first party: the host of the tab's top document. */
  readonly firstParty: string;
  /** Whether this document is the tab's top document (its links navigate the tab) or a frame inside it. */
  readonly topLevel: boolean;
}

/**
 * How a URL is used: 'navigate' replaces the tab's top document (a link or form of the top
 * document), 'frame' loads a document into a frame (inert schemes are refused like navigations),
 * 'load' fetches a subresource (data: images and fonts are fine).
 */
export type UrlUse = 'navigate' | 'frame' | 'load';

/**
 * Map one URL as written in a page to where the onion tab must ask for it: every http(s) URL,
 * relative ones included (resolved against the page's real base, so that no "../.." can climb out
 * of the page's site into another tab path), becomes a tab path; a fragment alone stays (a place
 * in the page); javascript:, blob: and the like become "#"; data: stays only where it loads an
 * image or a font; anything else (mailto:, about:blank) stays.
 */
export function mapUrl(value: string, base: URL, page: PageContext, use: UrlUse): string {
  const v = cleanUrl(value);
  if (v === '' || v.startsWith('#')) return value;
  if (NEVER_LOADED.test(v) || (use !== 'load' && INERT_NAVIGATION.test(v))) return '#';
  let u: URL;
  try {
    u = new URL(v, base);
  } catch {
    // The browser cannot parse it either (no request); an inert value says so plainly.
    return '#';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return value;
  const navigatesTop = use === 'navigate' && page.topLevel;
  return tabPath(u, navigatesTop ? undefined : page.firstParty) + u.hash;
}
