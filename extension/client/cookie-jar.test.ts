import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryStore, TelescopeError } from '../../shared/util/index.ts';
import { CookieJar, defaultPath, domainMatch, parseCookieDate, parseSetCookie, pathMatch, splitSetCookie, type RequestContext } from './cookie-jar.ts';

const T0 = Date.UTC(2030, 0, 1);
const nav = (firstParty: string, method = 'GET'): RequestContext => ({ firstParty, sameSite: true, topLevelNavigation: true, method });
const sub = (firstParty: string, sameSite = true): RequestContext => ({ firstParty, sameSite, topLevelNavigation: false, method: 'GET' });

function jarAt(time = T0) {
  const clock = { t: time };
  const store = new MemoryStore();
  const jar = new CookieJar(store, 'cookies', () => clock.t);
  return { jar, clock, store };
}

describe('cookie dates (RFC 6265 §5.1.1)', () => {
  it('reads the formats servers send', () => {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseCookieDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseCookieDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(parseCookieDate('Sun Nov  6 08:49:37 1994')).toBe(t);
    expect(parseCookieDate('Wed, 09 Jun 2021 10:18:14 GMT')).toBe(Date.UTC(2021, 5, 9, 10, 18, 14));
    expect(parseCookieDate('1 jan 2001 00:00:00')).toBe(Date.UTC(2001, 0, 1));
    expect(parseCookieDate('01-Jan-69 00:00:00')).toBe(Date.UTC(2069, 0, 1));
  });

  it('refuses missing parts and impossible values', () => {
    expect(parseCookieDate('Sun, 06 Nov 1994')).toBeUndefined();
    expect(parseCookieDate('06 Nov 1994 24:00:00')).toBeUndefined();
    expect(parseCookieDate('31 Feb 2020 00:00:00')).toBeUndefined();
    expect(parseCookieDate('06 Foo 1994 01:00:00')).toBeUndefined();
    expect(parseCookieDate('06 Nov 1500 01:00:00')).toBeUndefined();
    expect(parseCookieDate('')).toBeUndefined();
  });
});

describe('Set-Cookie parsing (RFC 6265 §5.2)', () => {
  it('reads the pair and the attributes, the last of a name winning', () => {
    expect(parseSetCookie('  sid = abc ; Path=/app; Domain=.Example.COM; Secure; HttpOnly; SameSite=Strict; Max-Age=60; Path=/b')).toEqual({
      name: 'sid', value: 'abc', path: '/b', domain: 'example.com', secure: true, httpOnly: true, sameSite: 'strict', maxAge: 60,
    });
    expect(parseSetCookie('a=b; Expires=Wed, 09 Jun 2021 10:18:14 GMT')?.expires).toBe(Date.UTC(2021, 5, 9, 10, 18, 14));
    expect(parseSetCookie('a=b; SameSite=weird')?.sameSite).toBe('default');
    expect(parseSetCookie('a=b; Path=relative')?.path).toBeUndefined();
    expect(parseSetCookie('a=b; Max-Age=1x')?.maxAge).toBeUndefined();
    expect(parseSetCookie('a=b; Max-Age=-5')?.maxAge).toBe(-5);
    expect(parseSetCookie('a=b; Domain=')?.domain).toBeUndefined();
    expect(parseSetCookie('justvalue')).toMatchObject({ name: '', value: 'justvalue' });
    expect(parseSetCookie('a="quoted=x"')).toMatchObject({ name: 'a', value: '"quoted=x"' });
  });

  it('ignores what a user agent must ignore', () => {
    expect(parseSetCookie('=')).toBeUndefined();
    expect(parseSetCookie('')).toBeUndefined();
    expect(parseSetCookie('a=b\x00c')).toBeUndefined();
    expect(parseSetCookie(`a=${'x'.repeat(5000)}`)).toBeUndefined();
    expect(parseSetCookie(`a=b; Path=/${'x'.repeat(2000)}`)?.path).toBeUndefined();
  });

  it('splits joined headers at commas that start a new cookie, not inside dates', () => {
    expect(splitSetCookie('a=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT, b=2; Path=/\nc=3')).toEqual([
      'a=1; Expires=Wed, 09 Jun 2021 10:18:14 GMT', 'b=2; Path=/', 'c=3',
    ]);
  });

  it('never throws, whatever the header', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const r = parseSetCookie(s);
      expect(r === undefined || typeof r.value === 'string').toBe(true);
      expect(Array.isArray(splitSetCookie(s))).toBe(true);
    }));
  });
});

describe('matching (RFC 6265 §5.1.3–5.1.4)', () => {
  it('matches domains and paths', () => {
    expect(domainMatch('www.example.com', 'example.com')).toBe(true);
    expect(domainMatch('example.com', 'example.com')).toBe(true);
    expect(domainMatch('badexample.com', 'example.com')).toBe(false);
    expect(domainMatch('1.2.3.4', '2.3.4')).toBe(false);
    expect(pathMatch('/a/b', '/a')).toBe(true);
    expect(pathMatch('/a/b', '/a/')).toBe(true);
    expect(pathMatch('/ab', '/a')).toBe(false);
    expect(pathMatch('/', '/')).toBe(true);
    expect(defaultPath(new URL('http://x.test/a/b/c'))).toBe('/a/b');
    expect(defaultPath(new URL('http://x.test/a'))).toBe('/');
    expect(defaultPath(new URL('http://x.test/'))).toBe('/');
  });
});

describe('the jar', () => {
  const site = new URL('http://www.site.test/shop/cart');

  it('sends back what a site set, by domain, path and first party', () => {
    const { jar } = jarAt();
    expect(jar.setFromResponse(site, ['a=1', 'b=2; Path=/', 'c=3; Domain=site.test; Path=/', 'd=4; Path=/other'], nav('www.site.test'))).toBe(4);
    expect(jar.cookieHeader(new URL('http://www.site.test/shop/x'), nav('www.site.test'))).toBe('a=1; b=2; c=3');
    expect(jar.cookieHeader(new URL('http://img.site.test/shop/x'), sub('www.site.test'))).toBe('c=3');
    expect(jar.cookieHeader(new URL('http://www.site.test/other/page'), nav('www.site.test'))).toBe('d=4; b=2; c=3');
    // Double keying: the same site seen while browsing another first party gets nothing.
    expect(jar.cookieHeader(new URL('http://www.site.test/shop/x'), sub('elsewhere.test', false))).toBeUndefined();
    expect(jar.cookieHeader(new URL('http://other.test/'), nav('www.site.test'))).toBeUndefined();
  });

  it('keeps cookies of one site set under two first parties apart', () => {
    const { jar } = jarAt();
    const tracker = new URL('http://tracker.test/pixel');
    jar.setFromResponse(tracker, 'id=A; SameSite=None; Secure', sub('a.test', false)); // refused: not https
    jar.setFromResponse(new URL('https://tracker.test/pixel'), 'id=A; SameSite=None; Secure', sub('a.test', false));
    jar.setFromResponse(new URL('https://tracker.test/pixel'), 'id=B; SameSite=None; Secure', sub('b.test', false));
    expect(jar.cookieHeader(new URL('https://tracker.test/x'), sub('a.test', false))).toBe('id=A');
    expect(jar.cookieHeader(new URL('https://tracker.test/x'), sub('b.test', false))).toBe('id=B');
    expect(jar.list()).toHaveLength(2);
  });

  it('refuses domains it may not set', () => {
    const { jar } = jarAt();
    const fp = nav('www.site.test');
    expect(jar.setFromResponse(site, 'a=1; Domain=other.test', fp)).toBe(0);
    expect(jar.setFromResponse(site, 'a=1; Domain=test', fp)).toBe(0);
    expect(jar.setFromResponse(site, 'a=1; Domain=sub.www.site.test', fp)).toBe(0);
    expect(jar.setFromResponse(new URL('http://127.0.0.1:8080/'), 'a=1; Domain=0.0.1', nav('127.0.0.1'))).toBe(0);
    expect(jar.setFromResponse(new URL('http://127.0.0.1:8080/'), 'a=1; Domain=127.0.0.1', nav('127.0.0.1'))).toBe(1);
    expect(jar.list('127.0.0.1')[0]).toMatchObject({ domain: '127.0.0.1', hostOnly: true });
  });

  it('sends Secure cookies only over https and onion services, and takes them only from there', () => {
    const { jar } = jarAt();
    expect(jar.setFromResponse(site, 's=1; Secure', nav('www.site.test'))).toBe(0);
    const https = new URL('https://www.site.test/');
    expect(jar.setFromResponse(https, 's=1; Secure; Path=/', nav('www.site.test'))).toBe(1);
    expect(jar.cookieHeader(https, nav('www.site.test'))).toBe('s=1');
    expect(jar.cookieHeader(new URL('http://www.site.test/'), nav('www.site.test'))).toBeUndefined();
    // An insecure origin cannot overwrite it either.
    expect(jar.setFromResponse(new URL('http://www.site.test/'), 's=evil; Path=/', nav('www.site.test'))).toBe(0);
    const onion = new URL('http://abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz234567.onion/');
    expect(jar.setFromResponse(onion, 'o=1; Secure', nav(onion.hostname))).toBe(1);
    expect(jar.cookieHeader(onion, nav(onion.hostname))).toBe('o=1');
  });

  it('honours the cookie prefixes', () => {
    const { jar } = jarAt();
    const https = new URL('https://www.site.test/a/b');
    const fp = nav('www.site.test');
    expect(jar.setFromResponse(https, '__Secure-a=1', fp)).toBe(0);
    expect(jar.setFromResponse(https, '__Secure-a=1; Secure', fp)).toBe(1);
    expect(jar.setFromResponse(https, '__Host-b=1; Secure', fp)).toBe(0); // path defaults to /a
    expect(jar.setFromResponse(https, '__Host-b=1; Secure; Path=/; Domain=site.test', fp)).toBe(0);
    expect(jar.setFromResponse(https, '__Host-b=1; Secure; Path=/', fp)).toBe(1);
  });

  it('applies SameSite to cross-site requests', () => {
    const { jar } = jarAt();
    const https = new URL('https://site.test/');
    const fp = 'site.test';
    jar.setFromResponse(https, ['st=1; SameSite=Strict', 'lx=2; SameSite=Lax', 'df=3', 'no=4; SameSite=None; Secure'], nav(fp));
    expect(jar.cookieHeader(https, nav(fp))).toBe('st=1; lx=2; df=3; no=4');
    expect(jar.cookieHeader(https, { firstParty: fp, sameSite: false, topLevelNavigation: true, method: 'GET' })).toBe('lx=2; df=3; no=4');
    expect(jar.cookieHeader(https, { firstParty: fp, sameSite: false, topLevelNavigation: true, method: 'POST' })).toBe('no=4');
    expect(jar.cookieHeader(https, sub(fp, false))).toBe('no=4');
    expect(jar.setFromResponse(https, 'x=1; SameSite=Lax', sub(fp, false))).toBe(0);
    expect(jar.setFromResponse(https, 'x=1; SameSite=None; Secure', sub(fp, false))).toBe(1);
    expect(jar.setFromResponse(https, 'y=1; SameSite=None', nav(fp))).toBe(0); // None needs Secure
  });

  it('replaces, expires and deletes', () => {
    const { jar, clock } = jarAt();
    const fp = nav('www.site.test');
    jar.setFromResponse(site, ['a=1; Max-Age=10', 'b=1; Expires=Wed, 01 Jan 2031 00:00:00 GMT', 'c=1'], fp);
    jar.setFromResponse(site, 'c=2', fp);
    expect(jar.cookieHeader(site, fp)).toBe('a=1; b=1; c=2');
    clock.t += 11_000;
    expect(jar.cookieHeader(site, fp)).toBe('b=1; c=2');
    expect(jar.setFromResponse(site, 'b=gone; Max-Age=0', fp)).toBe(1);
    expect(jar.cookieHeader(site, fp)).toBe('c=2');
    jar.setFromResponse(site, 'c=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT', fp);
    expect(jar.cookieHeader(site, fp)).toBeUndefined();
    // Max-Age wins over Expires, and both are capped at 400 days.
    jar.setFromResponse(site, 'd=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100', fp);
    jar.setFromResponse(site, 'e=1; Max-Age=999999999', fp);
    const byName = Object.fromEntries(jar.list().map((c) => [c.name, c.expires]));
    expect(byName.d).toBe(clock.t + 100_000);
    expect(byName.e).toBe(clock.t + 400 * 86_400_000);
  });

  it('keeps at most 50 cookies per domain, dropping the oldest', () => {
    const { jar, clock } = jarAt();
    const fp = nav('www.site.test');
    for (let i = 0; i < 60; i++) {
      clock.t += 1;
      jar.setFromResponse(site, `k${i}=v; Path=/`, fp);
    }
    const names = jar.list().map((c) => c.name);
    expect(names).toHaveLength(50);
    expect(names).not.toContain('k9');
    expect(names).toContain('k10');
  });

  it('survives a restart through its store, and "new identity" forgets everything', async () => {
    const { jar, store, clock } = jarAt();
    jar.setFromResponse(site, ['a=1; Path=/', 'b=2; Max-Age=5; Path=/'], nav('www.site.test'));
    await jar.flush();
    clock.t += 6000;
    const again = await CookieJar.load(store, 'cookies', () => clock.t);
    expect(again.cookieHeader(site, nav('www.site.test'))).toBe('a=1');
    await again.clear();
    expect(again.cookieHeader(site, nav('www.site.test'))).toBeUndefined();
    expect(await store.get('cookies')).toBeUndefined();
    expect((await CookieJar.load(store)).list()).toEqual([]);
  });

  it('round-trips its state and refuses a damaged record with a typed error', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('a.test', 'b.test'), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.boolean()), { maxLength: 20 }), (sets) => {
      const { jar } = jarAt();
      for (const [fp, name, value, persistent] of sets) {
        jar.setFromResponse(new URL(`https://${fp}/x/y`), `${name}=${value}${persistent ? '; Max-Age=1000' : ''}`, nav(fp));
      }
      const back = CookieJar.deserialize(jar.serialize(), T0);
      expect([...back.values()].flat()).toEqual(jar.list());
    }));
    fc.assert(fc.property(fc.string(), (s) => {
      try {
        CookieJar.deserialize(s, T0);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      try {
        CookieJar.deserialize(JSON.stringify({ v: 1, jars: { 'a.test': [v] } }), T0);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
    expect(() => CookieJar.deserialize('{"v":2}', T0)).toThrow(TelescopeError);
  });
});
