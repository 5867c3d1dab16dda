import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HttpRequest, HttpResponse } from '../../shared/http/index.ts';
import type { ExtensionClient } from './service.ts';

/**
 * The worker's side of the onion tab without a browser: fake extension and service-worker globals,
 * a fake Tor client that records what it was asked and answers what the test says. The real thing
 * runs in e2e/extension-browsing.e2e.test.ts; this covers the answers a live site rarely gives.
 */

const ORIGIN = 'chrome-extension://abcdefghijklmnop';
const session = new Map<string, unknown>();
/** The documents the fake browser knows (a subresource's client), by client id. */
const clientUrls = new Map<string, string>();
let web: typeof import('./web-proxy.ts');

beforeAll(async () => {
  const runtime = { id: 'abcdefghijklmnop' };
  vi.stubGlobal('chrome', { runtime });
  // With a `browser` global the polyfill hands it over unchanged (as in Firefox).
  vi.stubGlobal('browser', {
    runtime,
    storage: {
      session: {
        get: async (k: string) => (session.has(k) ? { [k]: session.get(k) } : {}),
        set: async (o: Record<string, unknown>) => { for (const [k, v] of Object.entries(o)) session.set(k, v); },
        remove: async (k: string) => { session.delete(k); },
      },
    },
  });
  vi.stubGlobal('self', { location: new URL(`${ORIGIN}/`), clients: { get: async (id: string) => (clientUrls.has(id) ? { url: clientUrls.get(id) } : undefined) } });
  web = await import('./web-proxy.ts');
});

beforeEach(async () => {
  await web.clearCookies();
});

type Answer = Partial<HttpResponse> & { headers?: Map<string, string> };

function fakeClient(answer: (req: HttpRequest) => Answer) {
  const asked: { req: HttpRequest; key: string }[] = [];
  const client = {
    request: async (req: HttpRequest, key: string) => {
      asked.push({ req, key });
      const a = answer(req);
      return { status: 200, statusText: 'OK', headers: new Map(), body: new Uint8Array(0), circuit: [], ...a };
    },
  } as unknown as ExtensionClient;
  return { client, asked };
}

interface FakeRequest {
  method?: string; mode?: RequestMode; destination?: RequestDestination; body?: string; contentType?: string; cookie?: string;
  /** The referrer (a path of the extension's origin): the document that started a navigation. Default: the onion tab's own page. */
  referrer?: string;
  /** The path of the document a subresource is for. */
  client?: string;
}

async function fetchVia(client: ExtensionClient, path: string, r: FakeRequest = {}): Promise<Response> {
  const headers = new Headers();
  if (r.contentType) headers.set('content-type', r.contentType);
  if (r.cookie) headers.set('cookie', r.cookie);
  const request = {
    url: `${ORIGIN}${path}`,
    method: r.method ?? 'GET',
    mode: r.mode ?? 'navigate',
    destination: r.destination ?? 'iframe',
    referrer: r.referrer === undefined ? `${ORIGIN}/extension/pages/browse.html` : r.referrer && `${ORIGIN}${r.referrer}`,
    headers,
    arrayBuffer: async () => new TextEncoder().encode(r.body ?? '').buffer,
  } as unknown as Request;
  let responded: Promise<Response> | undefined;
  const clientId = r.client ? `client-${clientUrls.size}` : '';
  if (r.client) clientUrls.set(clientId, `${ORIGIN}${r.client}`);
  const event = { request, clientId, respondWith: (p: Promise<Response>) => { responded = p; } } as unknown as FetchEvent;
  expect(web.handleWebFetch(event, async () => client)).toBe(true);
  return responded!;
}

const text = (s: string) => new TextEncoder().encode(s);

describe('the onion tab in the worker', () => {
  it('forwards a form post as the browser built it, with chosen headers only', async () => {
    const { client, asked } = fakeClient((req) => (req.method === 'POST'
      ? { status: 303, statusText: 'See Other', headers: new Map([['location', '/done'], ['set-cookie', 'sid=1; Path=/']]) }
      : { headers: new Map([['content-type', 'text/plain']]), body: text('done') }));
    const r = await fetchVia(client, '/web/http/site.test/80/login', { method: 'POST', body: 'a=1&b=%26', contentType: 'application/x-www-form-urlencoded', cookie: 'browser=jar' });
    expect(asked[0]!.req.method).toBe('POST');
    expect(asked[0]!.req.url.href).toBe('http://site.test/login');
    expect(new TextDecoder().decode(asked[0]!.req.body)).toBe('a=1&b=%26');
    expect(asked[0]!.req.headers).toEqual({ Accept: expect.stringContaining('text/html'), 'Content-Type': 'application/x-www-form-urlencoded' });
    expect(asked[0]!.key).toBe('site.test');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/web/http/site.test/80/done');
    expect(r.headers.get('set-cookie')).toBeNull();
    expect(r.headers.get('content-security-policy')).toContain("script-src 'none'");
    // The cookie of the 303 comes back on the next request, from the worker's jar.
    await fetchVia(client, '/web/http/site.test/80/done');
    expect(asked[1]!.req.headers?.Cookie).toBe('sid=1');
    expect(JSON.stringify([...session.values()])).toContain('sid');
    await web.clearCookies();
    await fetchVia(client, '/web/http/site.test/80/done');
    expect(asked[2]!.req.headers?.Cookie).toBeUndefined();
    expect(session.size).toBe(0);
  });

  it('rewrites pages and style sheets, passes other bodies through, and drops the site\'s headers', async () => {
    const { client } = fakeClient((req) => (req.url.pathname === '/s.css'
      ? { headers: new Map([['content-type', 'text/css']]), body: text('a { background: url(http://x.test/i.png) }') }
      : req.url.pathname === '/bin'
        ? { headers: new Map([['content-type', 'application/octet-stream'], ['content-security-policy', "script-src *"], ['refresh', '0; url=http://x.test/']]), body: new Uint8Array([1, 2, 3]) }
        : { headers: new Map([['content-type', 'text/html; charset=iso-8859-1']]), body: new Uint8Array([...text('<img src="http://x.test/a.png"><p>caf'), 0xe9]) }));
    const css = await fetchVia(client, '/web/http/site.test/80/s.css', { mode: 'no-cors', destination: 'style' });
    expect(await css.text()).toBe('a { background: url("/in/site.test/web/http/x.test/80/i.png") }');
    const page = await fetchVia(client, '/web/http/site.test/80/');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toBe('<html><head></head><body><img src="/in/site.test/web/http/x.test/80/a.png"><p>café</p></body></html>');
    const bin = await fetchVia(client, '/web/http/site.test/80/bin', { mode: 'no-cors', destination: 'image' });
    expect(new Uint8Array(await bin.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    expect(bin.headers.get('content-security-policy')).not.toContain('script-src *');
    expect(bin.headers.get('refresh')).toBeNull();
  });

  it('answers what a site answers, even when it is odd', async () => {
    const cases: [Answer, number][] = [
      [{ status: 204, statusText: 'No Content', body: text('stray') }, 204],
      [{ status: 304, statusText: 'Not Modified' }, 304],
      [{ status: 101, statusText: 'Switching' }, 502],
      [{ status: 999, statusText: 'Nine' }, 502],
      [{ status: 302, headers: new Map([['location', 'ftp://x.test/f']]) }, 502],
      [{ status: 302, headers: new Map([['location', 'http://[bad']]) }, 502],
      [{ status: 200, statusText: 'OK\x01', headers: new Map([['content-type', 'text/html; charset=no-such-charset']]), body: text('<p>hi') }, 200],
      [{ status: 200, headers: new Map([['content-type', 'image/png\x00']]), body: text('x') }, 200],
    ];
    for (const [answer, status] of cases) {
      const { client } = fakeClient(() => answer);
      const r = await fetchVia(client, '/web/http/site.test/80/x');
      expect(r.status, JSON.stringify(answer.status)).toBe(status);
    }
  });

  it('says so when Tor cannot reach the site, and refuses what is not a web address', async () => {
    const client = { request: async () => { throw new Error('stream refused'); } } as unknown as ExtensionClient;
    const r = await fetchVia(client, '/web/http/site.test/80/');
    expect(r.status).toBe(502);
    expect(await r.text()).toContain('stream refused');
    expect((await fetchVia(client, '/web/ftp/site.test/21/')).status).toBe(400);
  });

  it('sends HTTPS through the client too', async () => {
    const { client, asked } = fakeClient(() => ({ headers: new Map([['content-type', 'text/plain']]), body: text('ok') }));
    expect((await fetchVia(client, '/web/https/site.test/443/')).status).toBe(200);
    expect(asked[0]!.req.url.href).toBe('https://site.test/');
  });
  it('sandboxes every page it serves: no scripts, no popups, no top navigation', async () => {
    const { client } = fakeClient(() => ({ headers: new Map([['content-type', 'text/html']]), body: text('<a href="http://x.test/" target="_top">x</a>') }));
    for (const r of [await fetchVia(client, '/web/http/site.test/80/'), await fetchVia({ request: async () => { throw new Error('down'); } } as unknown as ExtensionClient, '/web/http/site.test/80/')]) {
      const csp = r.headers.get('content-security-policy')!;
      const sandbox = /(?:^|;)\s*sandbox([^;]*)/.exec(csp)?.[1]?.trim().split(/\s+/);
      expect(sandbox, csp).toEqual(['allow-same-origin', 'allow-forms']);
    }
  });
});

describe('SameSite, as browsers enforce it', () => {
  const BANK = '/web/https/bank.test/443';
  async function bankWithCookies() {
    const { client, asked } = fakeClient((req) => (req.url.pathname === '/login'
      ? { headers: new Map([['content-type', 'text/plain'], ['set-cookie', 's=1; SameSite=Strict; Secure\nl=1; SameSite=Lax; Secure\nd=1; Secure\nn=1; SameSite=None; Secure']]), body: text('ok') }
      : { headers: new Map([['content-type', 'text/plain']]), body: text('ok') }));
    // The person opens the bank (typed in the onion tab) and logs in.
    await fetchVia(client, `${BANK}/login`);
    return { client, asked };
  }
  const cookieOf = (asked: { req: HttpRequest }[]) => asked.at(-1)!.req.headers?.Cookie;

  it('sends no Strict or Lax cookie on a cross-site POST, whichever site\'s tab it lands in', async () => {
    const { client, asked } = await bankWithCookies();
    await fetchVia(client, `${BANK}/transfer`, { method: 'POST', body: 'to=evil', contentType: 'application/x-www-form-urlencoded', referrer: '/web/http/evil.test/80/' });
    expect(asked.at(-1)!.req.url.pathname).toBe('/transfer');
    expect(cookieOf(asked)).toBe('n=1');
    // A page that withholds its referrer is not taken for the person: cross-site too.
    await fetchVia(client, `${BANK}/transfer`, { method: 'POST', body: 'to=evil', contentType: 'application/x-www-form-urlencoded', referrer: '' });
    expect(cookieOf(asked)).toBe('n=1');
  });

  it('sends Lax cookies on a cross-site top-level GET, Strict ones only same-site', async () => {
    const { client, asked } = await bankWithCookies();
    await fetchVia(client, `${BANK}/account`, { referrer: '/web/http/evil.test/80/' });
    expect(cookieOf(asked)).toBe('l=1; d=1; n=1');
    await fetchVia(client, `${BANK}/account`, { referrer: `${BANK}/login` });
    expect(cookieOf(asked)).toBe('s=1; l=1; d=1; n=1');
    await fetchVia(client, `${BANK}/transfer`, { method: 'POST', body: 'x=1', contentType: 'application/x-www-form-urlencoded', referrer: `${BANK}/account` });
    expect(cookieOf(asked)).toBe('s=1; l=1; d=1; n=1');
  });

  it('sends only None cookies with a subresource or frame whose page is of another site', async () => {
    const { client, asked } = await bankWithCookies();
    // A frame of the bank's own tab, put there by a page of another site that the bank framed.
    await fetchVia(client, `/in/bank.test${BANK}/widget`, { destination: 'iframe', referrer: '/in/bank.test/web/http/ads.test/80/frame' });
    expect(cookieOf(asked)).toBe('n=1');
    await fetchVia(client, `/in/bank.test${BANK}/pixel`, { mode: 'no-cors', destination: 'image', client: '/in/bank.test/web/http/ads.test/80/frame' });
    expect(cookieOf(asked)).toBe('n=1');
    await fetchVia(client, `/in/bank.test${BANK}/pixel`, { mode: 'no-cors', destination: 'image', client: `${BANK}/account` });
    expect(cookieOf(asked)).toBe('s=1; l=1; d=1; n=1');
  });
});

describe('the first party of everything in a tab is the tab\'s top-level site', () => {
  function tracker() {
    return fakeClient((req) => (req.url.hostname === 'tracker.test'
      ? { headers: new Map([['content-type', 'text/html'], ['set-cookie', `id=${req.url.pathname.slice(1)}; SameSite=None; Secure`]]), body: text('<img src="/pixel.png"><a href="/next">n</a>') }
      : { headers: new Map([['content-type', 'text/html']]), body: text('<iframe src="https://tracker.test/t1"></iframe>') }));
  }
  const frameSrc = async (r: Response) => /<iframe src="([^"]+)"/.exec(await r.text())![1]!;

  it('fetches a framed tracker on the top site\'s circuit and jar, so two sites show it two strangers', async () => {
    const { client, asked } = tracker();
    const top = '/web/http/site.test/80/';
    const src = await frameSrc(await fetchVia(client, top));
    expect(src).toBe('/in/site.test/web/https/tracker.test/443/t1');
    const frame = await fetchVia(client, src, { destination: 'iframe', referrer: top });
    expect(asked.at(-1)!.key).toBe('site.test');
    // The frame's own subresources and links stay in the tab's first party.
    const html = await frame.text();
    expect(html).toContain('src="/in/site.test/web/https/tracker.test/443/pixel.png"');
    expect(html).toContain('href="/in/site.test/web/https/tracker.test/443/next"');
    await fetchVia(client, '/in/site.test/web/https/tracker.test/443/pixel.png', { mode: 'no-cors', destination: 'image', client: src });
    expect(asked.at(-1)!.key).toBe('site.test');
    expect(asked.at(-1)!.req.headers?.Cookie).toBe('id=t1');
    // The same tracker framed by another site: another circuit, an empty jar.
    const other = '/web/http/other.test/80/';
    const src2 = await frameSrc(await fetchVia(client, other));
    await fetchVia(client, src2, { destination: 'iframe', referrer: other });
    expect(asked.at(-1)!.key).toBe('other.test');
    expect(asked.at(-1)!.req.headers?.Cookie).toBeUndefined();
  });

  it('keeps a frame\'s navigations in the tab, and refuses a page that names another site\'s tab', async () => {
    const { client, asked } = tracker();
    const frame = '/in/site.test/web/https/tracker.test/443/t1';
    // A frame cannot navigate the top (sandbox): an unprefixed address it asks for is its own navigation.
    const r = await fetchVia(client, '/web/https/tracker.test/443/away', { destination: 'iframe', referrer: frame });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe(`${ORIGIN}/in/site.test/web/https/tracker.test/443/away`);
    const n = asked.length;
    const stolen = await fetchVia(client, '/in/bank.test/web/https/bank.test/443/account', { mode: 'no-cors', destination: 'image', client: '/web/http/evil.test/80/' });
    expect(stolen.status).toBe(403);
    expect(asked.length).toBe(n);
  });
});
