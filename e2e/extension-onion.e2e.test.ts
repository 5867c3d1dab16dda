import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';

/**
 * `.onion` from the address bar: navigating to an onion URL lands on the extension's onion page
 * (a declarativeNetRequest redirect, before any DNS), which sends a well-formed address on to the
 * onion tab and says what is wrong with a malformed one; a web page that sends the browser to an
 * onion address gets an interstitial instead, and extension pages cannot navigate out to the
 * network at all. No Tor network is involved here (reaching the service is in
 * extension-client.e2e.test.ts; that nothing is fetched before the click, in
 * extension-browsing.e2e.test.ts).
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));
const VALID = '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion';

let browser: ExtensionBrowser;

beforeAll(async () => {
  if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
  browser = await launchWithExtension(extensionDir);
  // The redirect rule is installed when the extension is installed: give the worker a moment.
  await browser.serviceWorker.evaluate(() => new Promise((r) => setTimeout(r, 500)));
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

async function open(url: string): Promise<{ state: string | undefined; title: string | null; message: string | null; href: string }> {
  const page = await browser.context.newPage();
  try {
    await page.goto(url).catch(() => undefined); // the navigation is redirected; its own result does not matter
    await page.waitForSelector('body[data-state]', { timeout: 15_000 });
    return {
      state: await page.getAttribute('body', 'data-state') ?? undefined,
      title: await page.textContent('#title'),
      message: await page.textContent('#message'),
      href: page.url(),
    };
  } finally {
    await closePage(page);
  }
}

/** A clearnet web server on loopback, opened directly in Chromium (the person's real address). */
async function clearnet(pages: Record<string, string>): Promise<{ origin: string; hits: string[]; close(): void }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = pages[(req.url ?? '/').split('?')[0]!];
    if (body?.startsWith('redirect:')) return res.writeHead(302, { Location: body.slice('redirect:'.length) }).end();
    if (body === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html>${body}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => { server.closeAllConnections(); server.close(); } };
}

describe('fail closed', () => {
  it('lets no extension page navigate the tab, a new window or a frame out to the network', async () => {
    const web = await clearnet({ '/top': '<h1>top</h1>', '/window': '<h1>window</h1>', '/frame': '<h1>frame</h1>' });
    const page = await browser.context.newPage();
    try {
      await page.goto(`chrome-extension://${browser.extensionId}/extension/pages/status.html`);
      await page.evaluate((origin) => {
        const f = document.createElement('iframe');
        f.src = `${origin}/frame`;
        document.body.append(f);
        window.open(`${origin}/window`);
      }, web.origin);
      await page.evaluate((origin) => { location.href = `${origin}/top`; }, web.origin).catch(() => undefined);
      await page.waitForTimeout(2_000);
      expect(web.hits).toEqual([]);
    } finally {
      await closePage(page);
      for (const p of browser.context.pages()) if (p.url().startsWith(web.origin)) await closePage(p);
      web.close();
    }
  });

  it('blocks every direct request from extension pages', async () => {
    let hits = 0;
    const server = createServer((_req, res) => { hits++; res.end('direct'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const page = await browser.context.newPage();
    try {
      await page.goto(`chrome-extension://${browser.extensionId}/extension/pages/status.html`);
      const outcome = await page.evaluate(async (url) => {
        try {
          await fetch(url);
          return 'fetched';
        } catch (e) {
          return `blocked: ${String(e)}`;
        }
      }, `http://127.0.0.1:${port}/`);
      expect(outcome).toMatch(/^blocked/);
      expect(hits).toBe(0);
    } finally {
      await closePage(page);
      server.close();
    }
  });
});

describe('.onion addresses in the address bar', () => {
  // This test once hung in 2 of 6 full runs: page.close() right after the redirect to the onion
  // tab *committed* raced the commit (crbug.com/536385539, playwright#42366); closePage re-issues it.
  it('sends a well-formed v3 address on to the onion tab, without resolving it', { timeout: 60_000 }, async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`http://${VALID}/some/page?x=1`).catch(() => undefined);
      // 'commit': the tab's page itself keeps loading (no bridge is configured in this browser).
      await page.waitForURL(/\/extension\/pages\/browse\.html\?url=/, { timeout: 15_000, waitUntil: 'commit' });
      expect(decodeURIComponent(new URL(page.url()).searchParams.get('url') ?? '')).toBe(`http://${VALID}/some/page?x=1`);
    } finally {
      await closePage(page);
    }
  });

  it('opens nothing a web page sends the browser to: a link, a redirect, a refresh land on an interstitial', async () => {
    const target = `http://${VALID}/?id=tracking-cookie-of-the-clearnet-page`;
    const web = await clearnet({
      '/link': `<a id="go" href="${target}">go</a>`,
      '/noreferrer': `<meta name="referrer" content="no-referrer"><a id="go" rel="noreferrer" href="${target}">go</a>`,
      '/refresh': `<meta http-equiv="refresh" content="0; url=${target}">`,
      '/script': `<script>location.href = ${JSON.stringify(target)}</script>`,
      // Typed by the person, but the server redirects: the onion address is the server's choice.
      '/redirect': `redirect:${target}`,
    });
    try {
      for (const path of ['/link', '/noreferrer', '/refresh', '/script', '/redirect']) {
        const page = await browser.context.newPage();
        try {
          await page.goto(`${web.origin}${path}`).catch(() => undefined);
          if (path.endsWith('link') || path === '/noreferrer') await page.click('#go');
          await page.waitForSelector('body[data-state="interstitial"]', { timeout: 15_000 });
          expect(page.url(), path).toMatch(/\/extension\/pages\/onion\.html/);
          expect(await page.textContent('#address'), path).toBe(target);
          // Nothing happens until the person clicks: the tab stays on the interstitial.
          await page.waitForTimeout(1_000);
          expect(page.url(), path).toMatch(/\/extension\/pages\/onion\.html/);
          await page.click('#open');
          await page.waitForURL(/\/extension\/pages\/browse\.html\?url=/, { timeout: 15_000, waitUntil: 'commit' });
          expect(decodeURIComponent(new URL(page.url()).searchParams.get('url') ?? ''), path).toBe(target);
        } finally {
          await closePage(page);
        }
      }
    } finally {
      web.close();
    }
  });

  it('cannot be detected by a web page through its fixed id (web-accessible only under a per-session address)', async () => {
    const web = await clearnet({ '/probe': '<h1>probe</h1>' });
    const page = await browser.context.newPage();
    try {
      await page.goto(`${web.origin}/probe`);
      const outcome = await page.evaluate(async (url) => {
        try {
          const r = await fetch(url);
          return `loaded ${r.status}`;
        } catch {
          return 'failed';
        }
      }, `chrome-extension://${browser.extensionId}/extension/pages/onion.html`);
      expect(outcome).toBe('failed');
    } finally {
      await closePage(page);
      web.close();
    }
  });

  it('explains a mistyped address (checksum) and a wrong version', async () => {
    const badChecksum = await open(`http://${VALID.replace('l5sid', 'l5xid')}/`);
    expect(badChecksum.state).toBe('bad-checksum');
    expect(badChecksum.message).toMatch(/mistyped/);
    const badVersion = await open(`http://${VALID.replace('5sid.', '5sie.')}/`);
    expect(badVersion.state).toBe('bad-version');
  });
});
