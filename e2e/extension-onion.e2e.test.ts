import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, type ExtensionBrowser } from './chromium.ts';

/**
 * `.onion` from the address bar: navigating to an onion URL lands on the extension's onion page
 * (a declarativeNetRequest redirect, before any DNS), which sends a well-formed address on to the
 * onion tab and says what is wrong with a malformed one. No network is involved here (reaching the
 * service is in extension-client.e2e.test.ts).
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
    await page.close();
  }
}

describe('fail closed', () => {
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
      await page.close();
      server.close();
    }
  });
});

describe('.onion addresses in the address bar', () => {
  it('sends a well-formed v3 address on to the onion tab, without resolving it', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`http://${VALID}/some/page?x=1`).catch(() => undefined);
      // 'commit': the tab's page itself keeps loading (no bridge is configured in this browser).
      await page.waitForURL(/\/extension\/pages\/browse\.html\?url=/, { timeout: 15_000, waitUntil: 'commit' });
      expect(decodeURIComponent(new URL(page.url()).searchParams.get('url') ?? '')).toBe(`http://${VALID}/some/page?x=1`);
    } finally {
      await page.close();
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
