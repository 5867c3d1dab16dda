import { ProtocolError } from '../../shared/util/index.ts';
import type { KeyValueStore } from '../../shared/util/index.ts';

/**
 * The onion tab's cookies (RFC 6265, with the parts of 6265bis that browsers enforce today:
 * Secure needs a secure origin, SameSite, the __Secure-/__Host- prefixes, a 400-day cap). They live
 * in the service worker, never in the browser's own jar, and are double-keyed like Tor Browser's
 * first-party isolation: a cookie set while browsing site A is only ever sent while browsing A, so
 * a tracker embedded in two sites sees two strangers. There is no public-suffix list here: a Domain
 * attribute with a single label is refused, which stops `Domain=com` and leaves `Domain=co.uk`
 * possible (harmless under double keying: only pages of that one first party share the jar).
 */

export type SameSite = 'strict' | 'lax' | 'none' | 'default';

export interface Cookie {
  readonly name: string;
  readonly value: string;
  /** The host (host-only cookies) or the Domain attribute, lower case, without a leading dot. */
  readonly domain: string;
  readonly hostOnly: boolean;
  readonly path: string;
  /** Milliseconds since the epoch; undefined for a session cookie. */
  readonly expires: number | undefined;
  readonly secure: boolean;
  /** Kept as the site asked; pages run no scripts, so nothing could read the cookie anyway. */
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
  readonly created: number;
}

/** One Set-Cookie header as parsed (RFC 6265 §5.2), before the storage rules of §5.3. */
export interface SetCookie {
  readonly name: string;
  readonly value: string;
  readonly expires?: number;
  /** Seconds, as given; ≤ 0 means "expire now". Wins over Expires. */
  readonly maxAge?: number;
  readonly domain?: string;
  readonly path?: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
}

/** How a request relates to the page that makes it (for SameSite). */
export interface RequestContext {
  /** The first-party site the tab shows: the jar's partition. */
  readonly firstParty: string;
  /** Whether the request is same-site: see requestContext. */
  readonly sameSite: boolean;
  /** A navigation of the tab's top document (a link followed, a form submitted), not a frame or a subresource. */
  readonly topLevelNavigation: boolean;
  readonly method: string;
}

/** An approximation of the registrable domain (there is no public-suffix list here), for SameSite. */
export function siteOf(host: string): string {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')) return host;
  return host.split('.').slice(-2).join('.');
}

/**
 * The SameSite context of a request, as browsers decide it (RFC 6265bis §5.2): a request is
 * same-site when its URL, the tab's top-level site and the document that started it (the
 * initiator) are all one site. A navigation nobody's page started (the person typed the address, or
 * went back) has no initiator. An initiator that is not known (a page that withheld its referrer)
 * counts as another site: the request is then cross-site, fail closed.
 */
export function requestContext(r: {
  readonly url: URL;
  /** The host of the tab's top document (for a top-level navigation: of the page being opened). */
  readonly firstParty: string;
  readonly topLevelNavigation: boolean;
  readonly method: string;
  /** The host of the document that made the request; null when the person did; undefined when unknown. */
  readonly initiator: string | null | undefined;
}): RequestContext {
  const site = siteOf(r.firstParty);
  const sameSite = siteOf(r.url.hostname) === site && r.initiator !== undefined && (r.initiator === null || siteOf(r.initiator) === site);
  return { firstParty: r.firstParty, sameSite, topLevelNavigation: r.topLevelNavigation, method: r.method };
}

const MAX_NAME_VALUE = 4096;
const MAX_ATTRIBUTE_VALUE = 1024;
/** RFC 6265bis caps Expires and Max-Age at 400 days. */
const MAX_AGE_MS = 400 * 24 * 3600 * 1000;
const PER_DOMAIN = 50;
const TOTAL = 3000;

// --- dates (RFC 6265 §5.1.1) ---

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
// delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E
const DATE_DELIMITERS = /[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+/;

/** A cookie-date as browsers read it: tolerant about order and separators, strict about ranges. */
export function parseCookieDate(text: string): number | undefined {
  let time: [number, number, number] | undefined;
  let day: number | undefined;
  let month: number | undefined;
  let year: number | undefined;
  for (const token of text.split(DATE_DELIMITERS)) {
    if (!token) continue;
    let m: RegExpExecArray | null;
    if (!time && (m = /^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)/.exec(token))) {
      time = [Number(m[1]), Number(m[2]), Number(m[3])];
    } else if (day === undefined && (m = /^(\d{1,2})(?:\D|$)/.exec(token))) {
      day = Number(m[1]);
    } else if (month === undefined && MONTHS.includes(token.slice(0, 3).toLowerCase())) {
      month = MONTHS.indexOf(token.slice(0, 3).toLowerCase());
    } else if (year === undefined && (m = /^(\d{2,4})(?:\D|$)/.exec(token))) {
      year = Number(m[1]);
    }
  }
  if (!time || day === undefined || month === undefined || year === undefined) return undefined;
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  const [h, min, s] = time;
  if (day < 1 || day > 31 || year < 1601 || h > 23 || min > 59 || s > 59) return undefined;
  const t = Date.UTC(year, month, day, h, min, s);
  // 31 February is not a day: Date.UTC would roll it into March.
  if (new Date(t).getUTCDate() !== day) return undefined;
  return t;
}

// --- Set-Cookie (RFC 6265 §5.2) ---

const trimWs = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, '');

/** Parse one Set-Cookie value; undefined when the user agent must ignore it. Never throws. */
export function parseSetCookie(header: string): SetCookie | undefined {
  // 6265bis: a control character anywhere (other than HTAB) voids the whole header.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(header)) return undefined;
  const semi = header.indexOf(';');
  const pair = semi < 0 ? header : header.slice(0, semi);
  const eq = pair.indexOf('=');
  // 6265bis (as browsers do): a pair without "=" is a value with an empty name.
  const name = eq < 0 ? '' : trimWs(pair.slice(0, eq));
  const value = trimWs(eq < 0 ? pair : pair.slice(eq + 1));
  if (!name && !value) return undefined;
  if (new TextEncoder().encode(name + value).length > MAX_NAME_VALUE) return undefined;
  const out: { -readonly [K in keyof SetCookie]: SetCookie[K] } = { name, value, secure: false, httpOnly: false, sameSite: 'default' };
  for (const part of semi < 0 ? [] : header.slice(semi + 1).split(';')) {
    const e = part.indexOf('=');
    const key = trimWs(e < 0 ? part : part.slice(0, e)).toLowerCase();
    const val = e < 0 ? '' : trimWs(part.slice(e + 1));
    if (val.length > MAX_ATTRIBUTE_VALUE) continue;
    // Later attributes of the same name win, as in the RFC's "last attribute" rule.
    switch (key) {
      case 'expires': {
        const t = parseCookieDate(val);
        if (t !== undefined) out.expires = t;
        break;
      }
      case 'max-age':
        if (/^-?\d+$/.test(val)) out.maxAge = Number(val);
        break;
      case 'domain':
        if (val) out.domain = val.replace(/^\./, '').toLowerCase();
        else delete out.domain;
        break;
      case 'path':
        if (val.startsWith('/')) out.path = val;
        else delete out.path;
        break;
      case 'secure': out.secure = true; break;
      case 'httponly': out.httpOnly = true; break;
      case 'samesite': {
        const v = val.toLowerCase();
        out.sameSite = v === 'strict' || v === 'lax' || v === 'none' ? v : 'default';
        break;
      }
      default: break;
    }
  }
  return out;
}

/**
 * The Set-Cookie headers inside one header value. A response head parser that keeps one value per
 * name joins repeated headers, with "\n" or with ", " (RFC 9110 §5.3); a comma also occurs inside
 * Expires dates, so a comma splits only where a new "name=" follows it.
 */
export function splitSetCookie(value: string): string[] {
  return value.split('\n').flatMap((line) => line.split(/,(?=[ \t]*[^;,=\s]+=)/)).map(trimWs).filter((s) => s.length > 0);
}

// --- matching (RFC 6265 §5.1.3, §5.1.4) ---

const isIp = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':') || host.startsWith('[');

export function domainMatch(host: string, domain: string): boolean {
  return host === domain || (!isIp(host) && host.endsWith(`.${domain}`));
}

export function pathMatch(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/');
}

export function defaultPath(url: URL): string {
  const p = url.pathname;
  const last = p.lastIndexOf('/');
  return !p.startsWith('/') || last <= 0 ? '/' : p.slice(0, last);
}

/** Secure cookies travel only where nobody on the way can read them: HTTPS, and onion services. */
export function isSecureUrl(url: URL): boolean {
  return url.protocol === 'https:' || url.hostname.endsWith('.onion');
}

// --- the jar ---

const SAFE_METHODS = /^(GET|HEAD|OPTIONS|TRACE)$/i;

export class CookieJar {
  /** first party → cookies stored while browsing it. */
  private jars = new Map<string, Cookie[]>();
  private saving: Promise<void> = Promise.resolve();
  private lastCreated = 0;

  constructor(private readonly store?: KeyValueStore, private readonly key = 'cookies', private readonly now: () => number = Date.now) {}

  /** A jar with what `store` kept (a restarted worker keeps its cookies). Throws ProtocolError on a damaged record. */
  static async load(store: KeyValueStore, key = 'cookies', now: () => number = Date.now): Promise<CookieJar> {
    const jar = new CookieJar(store, key, now);
    const text = await store.get(key);
    if (text !== undefined) jar.jars = CookieJar.deserialize(text, now());
    return jar;
  }

  /**
   * Store the cookies of a response to `url` (RFC 6265 §5.3) in `firstParty`'s partition.
   * `setCookie` is one header value (possibly several joined, see splitSetCookie) or a list.
   * Returns how many were stored or replaced (deletions included).
   */
  setFromResponse(url: URL, setCookie: string | readonly string[] | undefined, ctx: RequestContext): number {
    if (setCookie === undefined) return 0;
    const headers = typeof setCookie === 'string' ? splitSetCookie(setCookie) : setCookie.flatMap(splitSetCookie);
    let changed = 0;
    for (const h of headers) if (this.storeOne(url, h, ctx)) changed++;
    if (changed) this.save();
    return changed;
  }

  private storeOne(url: URL, header: string, ctx: RequestContext): boolean {
    const parsed = parseSetCookie(header);
    if (!parsed) return false;
    const now = this.now();
    const host = url.hostname.toLowerCase();
    const secureUrl = isSecureUrl(url);
    let domain = host;
    let hostOnly = true;
    if (parsed.domain !== undefined && parsed.domain !== host) {
      // A single label ("com", "localhost" from elsewhere) would be a cookie for a whole suffix.
      if (isIp(host) || !parsed.domain.includes('.') || !domainMatch(host, parsed.domain)) return false;
      domain = parsed.domain;
      hostOnly = false;
    }
    if (parsed.secure && !secureUrl) return false;
    if (parsed.sameSite === 'none' && !parsed.secure) return false;
    // A cross-site subresource may not plant cookies meant for same-site use.
    if (!ctx.sameSite && parsed.sameSite !== 'none' && !ctx.topLevelNavigation) return false;
    if (parsed.name.startsWith('__Secure-') && !(parsed.secure && secureUrl)) return false;
    if (parsed.name.startsWith('__Host-') && !(parsed.secure && secureUrl && hostOnly && parsed.path === '/')) return false;
    let expires: number | undefined;
    if (parsed.maxAge !== undefined) expires = parsed.maxAge <= 0 ? 0 : now + Math.min(parsed.maxAge * 1000, MAX_AGE_MS);
    else if (parsed.expires !== undefined) expires = Math.min(parsed.expires, now + MAX_AGE_MS);
    const path = parsed.path ?? defaultPath(url);
    const list = this.jars.get(ctx.firstParty) ?? [];
    // 6265bis: an insecure origin cannot shadow or replace a Secure cookie of the same name.
    if (!secureUrl && list.some((c) => c.secure && c.name === parsed.name && (domainMatch(c.domain, domain) || domainMatch(domain, c.domain)) && pathMatch(path, c.path))) return false;
    const i = list.findIndex((c) => c.name === parsed.name && c.domain === domain && c.hostOnly === hostOnly && c.path === path);
    const old = i >= 0 ? list[i] : undefined;
    if (old) list.splice(i, 1);
    if (expires !== undefined && expires <= now) {
      if (list.length) this.jars.set(ctx.firstParty, list);
      else this.jars.delete(ctx.firstParty);
      return old !== undefined;
    }
    // Creation times order cookies with equal paths; keep them distinct and increasing.
    const created = old?.created ?? (this.lastCreated = Math.max(now, this.lastCreated + 1));
    list.push({ name: parsed.name, value: parsed.value, domain, hostOnly, path, expires, secure: parsed.secure, httpOnly: parsed.httpOnly, sameSite: parsed.sameSite, created });
    this.jars.set(ctx.firstParty, list);
    this.evict(ctx.firstParty, domain);
    return true;
  }

  private evict(firstParty: string, domain: string): void {
    const now = this.now();
    const list = this.jars.get(firstParty)!;
    const live = list.filter((c) => c.expires === undefined || c.expires > now);
    const sameDomain = live.filter((c) => c.domain === domain).sort((a, b) => a.created - b.created);
    const drop = new Set(sameDomain.slice(0, Math.max(0, sameDomain.length - PER_DOMAIN)));
    this.jars.set(firstParty, live.filter((c) => !drop.has(c)));
    let total = 0;
    for (const l of this.jars.values()) total += l.length;
    if (total <= TOTAL) return;
    const all = [...this.jars.entries()].flatMap(([fp, l]) => l.map((c) => [fp, c] as const)).sort((a, b) => a[1].created - b[1].created);
    for (const [fp, c] of all.slice(0, total - TOTAL)) {
      const l = this.jars.get(fp)!.filter((x) => x !== c);
      if (l.length) this.jars.set(fp, l);
      else this.jars.delete(fp);
    }
  }

  /** The Cookie header for a request to `url` (RFC 6265 §5.4), or undefined when none applies. */
  cookieHeader(url: URL, ctx: RequestContext): string | undefined {
    const now = this.now();
    const host = url.hostname.toLowerCase();
    const secureUrl = isSecureUrl(url);
    const list = this.jars.get(ctx.firstParty);
    if (!list) return undefined;
    const live = list.filter((c) => c.expires === undefined || c.expires > now);
    if (live.length !== list.length) {
      this.jars.set(ctx.firstParty, live);
      this.save();
    }
    const send = live.filter((c) => {
      if (c.hostOnly ? host !== c.domain : !domainMatch(host, c.domain)) return false;
      if (!pathMatch(url.pathname || '/', c.path)) return false;
      if (c.secure && !secureUrl) return false;
      if (!ctx.sameSite) {
        if (c.sameSite === 'strict') return false;
        // Lax, and Lax by default as in Chromium: only a safe top-level navigation carries it.
        if (c.sameSite !== 'none' && !(ctx.topLevelNavigation && SAFE_METHODS.test(ctx.method))) return false;
      }
      return true;
    }).sort((a, b) => b.path.length - a.path.length || a.created - b.created);
    if (send.length === 0) return undefined;
    return send.map((c) => (c.name ? `${c.name}=${c.value}` : c.value)).join('; ');
  }

  /** The cookies kept for `firstParty` (all partitions when omitted), expired ones excluded. */
  list(firstParty?: string): Cookie[] {
    const now = this.now();
    const lists = firstParty === undefined ? [...this.jars.values()] : [this.jars.get(firstParty) ?? []];
    return lists.flat().filter((c) => c.expires === undefined || c.expires > now);
  }

  /** Forget every cookie of every site ("new identity"), in memory and in the store. */
  async clear(): Promise<void> {
    this.jars.clear();
    this.saving = this.saving.then(() => this.store?.delete(this.key));
    await this.saving;
  }

  /** Resolves once everything stored so far is in the store; rejects with a failed write. */
  flush(): Promise<void> {
    return this.saving;
  }

  private save(): void {
    if (!this.store) return;
    const store = this.store;
    // Writes run one after another, so the store always ends with the newest state; a failed write
    // does not stop later ones (flush() reports it).
    const next = this.saving.catch(() => undefined).then(() => store.set(this.key, this.serialize()));
    this.saving = next;
  }

  serialize(): string {
    return JSON.stringify({ v: 1, jars: Object.fromEntries(this.jars) });
  }

  /** The partitions a serialized jar holds, expired cookies dropped. Throws ProtocolError on anything malformed. */
  static deserialize(text: string, now: number): Map<string, Cookie[]> {
    const fail = (detail: string): never => { throw new ProtocolError('cookie store', detail); };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ProtocolError('cookie store', 'not JSON', undefined, { cause: e });
    }
    if (typeof data !== 'object' || data === null || (data as { v?: unknown }).v !== 1) fail('not a version 1 record');
    const jars = (data as { jars?: unknown }).jars;
    if (typeof jars !== 'object' || jars === null || Array.isArray(jars)) fail('no partitions');
    const out = new Map<string, Cookie[]>();
    for (const [fp, list] of Object.entries(jars as Record<string, unknown>)) {
      if (!Array.isArray(list)) fail(`partition ${fp.slice(0, 40)} is not a list`);
      const cookies: Cookie[] = [];
      for (const raw of list as unknown[]) {
        const c = raw as Record<string, unknown>;
        if (typeof c !== 'object' || c === null) fail('a cookie is not an object');
        const str = (k: string) => (typeof c[k] === 'string' ? c[k] as string : fail(`cookie field ${k} is not a string`));
        const bool = (k: string) => (typeof c[k] === 'boolean' ? c[k] as boolean : fail(`cookie field ${k} is not a boolean`));
        const num = (k: string) => (typeof c[k] === 'number' && Number.isFinite(c[k]) ? c[k] as number : fail(`cookie field ${k} is not a number`));
        const sameSite = str('sameSite');
        if (!['strict', 'lax', 'none', 'default'].includes(sameSite)) fail(`bad SameSite ${sameSite.slice(0, 20)}`);
        const path = str('path');
        if (!path.startsWith('/')) fail('a cookie path does not start with /');
        const expires = c.expires === undefined ? undefined : num('expires');
        const cookie: Cookie = {
          name: str('name'), value: str('value'), domain: str('domain'), hostOnly: bool('hostOnly'), path, expires,
          secure: bool('secure'), httpOnly: bool('httpOnly'), sameSite: sameSite as SameSite, created: num('created'),
        };
        if (expires === undefined || expires > now) cookies.push(cookie);
      }
      if (cookies.length) out.set(fp, cookies);
    }
    return out;
  }
}
