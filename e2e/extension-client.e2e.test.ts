import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * The Tor client inside the extension's MV3 service worker, in Debian's Chromium: configured with a
 * relay-bridge's bridge line and the private network's authorities, it bootstraps through the
 * bridge over WebSocket (verifying the consensus itself), builds 3-hop circuits and fetches pages.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

interface FetchResult { status: number; length: number; sha256: string; text: string; circuit: string[] }
type Telescope = {
  start(s: { bridges: string[]; authorities: string[] }): Promise<{ percent: number; tag: string }>;
  fetch(url: string, key?: string): Promise<FetchResult>;
  log(): string[];
};

let desc: TestnetDescription;
let relay: RelayProcess;
let browser: ExtensionBrowser;

beforeAll(async () => {
  if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0']);
  browser = await launchWithExtension(extensionDir);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

describe('Tor client in the extension service worker', () => {
  it('bootstraps through the relay-bridge over WebSocket and fetches through 3-hop circuits', async () => {
    const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
    const status = await browser.serviceWorker.evaluate(async (s) => {
      const t = (self as unknown as { telescope: Telescope }).telescope;
      return t.start(s);
    }, settings);
    expect(status.percent).toBe(100);
    for (const path of ['/hello', '/bytes/1m'] as const) {
      const r = await browser.serviceWorker.evaluate(async (url) => (self as unknown as { telescope: Telescope }).telescope.fetch(url), `http://127.0.0.1:${desc.web.port}${path}`);
      expect(r.status, path).toBe(200);
      expect(r.sha256, path).toBe(desc.web.paths[path].sha256);
      expect(r.circuit).toHaveLength(3);
      expect(r.circuit[0]).toContain(relay.fingerprint.slice(0, 8));
    }
  }, 120_000);

  it('browses a site in the onion tab: script-free, CSS and images through Tor, links stay inside', async () => {
    const seen: string[] = [];
    const site = createServer((req, res) => {
      seen.push(req.url ?? '');
      const port = (site.address() as AddressInfo).port;
      const send = (type: string, body: string) => res.writeHead(200, { 'Content-Type': type }).end(body);
      if (req.url === '/') {
        send('text/html; charset=utf-8', `<!doctype html><title>Demo</title><h1 id="h">Demo site</h1>
          <link rel="stylesheet" href="http://127.0.0.1:${port}/style.css">
          <img id="img" src="/img.svg" width="20" height="20"><a id="next" href="/page2">next</a>
          <script>document.getElementById('h').textContent = 'SCRIPT RAN';</script>`);
      } else if (req.url === '/page2') send('text/html', '<!doctype html><title>Two</title><h1 id="h">Page two</h1>');
      else if (req.url === '/style.css') send('text/css', 'h1 { color: rgb(1, 2, 3); }');
      else if (req.url === '/img.svg') send('image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    const port = (site.address() as AddressInfo).port;
    const page = await browser.context.newPage();
    try {
      await page.goto(`chrome-extension://${browser.extensionId}/extension/pages/browse.html?url=${encodeURIComponent(`http://127.0.0.1:${port}/`)}`);
      const frame = page.frameLocator('#view');
      await expect.poll(() => frame.locator('#h').textContent(), { timeout: 60_000 }).toBe('Demo site');
      expect(await frame.locator('#h').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(1, 2, 3)');
      await expect.poll(() => frame.locator('#img').evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 30_000 }).toBe(20);
      expect(await page.inputValue('#address')).toBe(`http://127.0.0.1:${port}/`);
      await frame.locator('#next').click();
      await expect.poll(() => frame.locator('#h').textContent(), { timeout: 60_000 }).toBe('Page two');
      await expect.poll(() => page.inputValue('#address')).toBe(`http://127.0.0.1:${port}/page2`);
      expect(seen).toEqual(expect.arrayContaining(['/', '/style.css', '/img.svg', '/page2']));

      await page.screenshot({ path: fileURLToPath(new URL('../test-results/onion-tab-demo-site.png', import.meta.url)) });

      // The popup shows the site's circuit, hop by hop; "New circuit for this site" drops it and the
      // site's next page goes through another middle and exit.
      const popup = await browser.context.newPage();
      await popup.goto(`chrome-extension://${browser.extensionId}/extension/pages/popup.html?site=127.0.0.1`);
      await expect.poll(() => popup.locator('#circuit li').count(), { timeout: 10_000 }).toBe(3);
      const before = await popup.locator('#circuit li small').allTextContents();
      expect(before[0]).toContain(relay.fingerprint);
      expect(await popup.textContent('#phase')).toMatch(/Bootstrapped 100%/);
      await popup.click('#new-circuit');
      await expect.poll(() => popup.textContent('#circuit'), { timeout: 10_000 }).toBe('no circuit yet');
      await frame.locator('body').evaluate(() => location.reload());
      await expect.poll(() => frame.locator('#h').textContent(), { timeout: 60_000 }).toBe('Page two');
      await expect.poll(() => popup.locator('#circuit li').count(), { timeout: 10_000 }).toBe(3);
      const after = await popup.locator('#circuit li small').allTextContents();
      const fp = (hop: string | undefined) => hop?.split(' · ')[0];
      expect(fp(after[0])).toBe(fp(before[0])); // the guard (the bridge) stays
      expect(fp(after[1]) !== fp(before[1]) || fp(after[2]) !== fp(before[2])).toBe(true);
      await closePage(popup);
    } finally {
      await closePage(page);
      site.close();
    }
  }, 180_000);

  it('opens the tor onion service typed as a URL in the onion tab; the popup shows the rendezvous circuit', async () => {
    const onion = desc.onionService.address;
    const page = await browser.context.newPage();
    try {
      // The address bar: a declarativeNetRequest redirect, the onion page checks it, the onion tab opens it.
      await page.goto(`http://${onion}/hello`).catch(() => undefined);
      await page.waitForURL(/\/extension\/pages\/browse\.html\?url=/, { timeout: 15_000 });
      const frame = page.frameLocator('#view');
      await expect.poll(() => frame.locator('body').textContent(), { timeout: 90_000 }).toContain('Hello from the Telescope test network');
      await page.screenshot({ path: fileURLToPath(new URL('../test-results/onion-tab-onion-service.png', import.meta.url)) });

      const popup = await browser.context.newPage();
      await popup.goto(`chrome-extension://${browser.extensionId}/extension/pages/popup.html?site=${onion}`);
      await expect.poll(() => popup.locator('#circuit li').count(), { timeout: 10_000 }).toBe(4);
      const hops = await popup.locator('#circuit li').allTextContents();
      expect(hops[0]).toContain(relay.fingerprint);
      expect(hops[2]).toContain('rendezvous-point');
      expect(hops[3]).toContain('the onion service');
      await closePage(popup);
    } finally {
      await closePage(page);
    }
  }, 180_000);
});
