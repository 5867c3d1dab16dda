import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * Chromium stops an idle MV3 service worker (after ~30 s without events, seen in Chromium 156). The next page
 * load in the onion tab starts it again, and the Tor client must resume from what it kept (its
 * settings in extension storage; consensus, certificates, microdescriptors and guards in
 * IndexedDB) without downloading a new consensus. The worker is stopped through the DevTools
 * protocol (ServiceWorker.stopAllWorkers), which is what Chromium's idle timer does to it.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

type Telescope = {
  start(s: { bridges: string[]; authorities: string[] }): Promise<{ percent: number; tag: string }>;
  status(): { percent: number };
  log(): string[];
};

let desc: TestnetDescription;
let relay: RelayProcess;
let browser: ExtensionBrowser;
let site: Server;
let sitePort: number;

const workerLog = (w: Worker) => w.evaluate(() => (self as unknown as { telescope: Telescope }).telescope.log());

/** What the worker's log says about consensus downloads (tor-client.ts logs each one it accepts). */
const consensusDownloads = (log: string[]) => log.filter((l) => /accepted a consensus|Asking for networkstatus consensus|Loading networkstatus consensus/.test(l));

beforeAll(async () => {
  if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0']);
  browser = await launchWithExtension(extensionDir);
  site = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Page</title><h1 id="h">Page ${req.url ?? ''}</h1>`);
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
  sitePort = (site.address() as AddressInfo).port;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
  site?.close();
});

describe('service worker restart', () => {
  it('resumes from storage: the next page load after a worker stop downloads no consensus', async () => {
    const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
    const first = browser.serviceWorker;
    const status = await first.evaluate((s) => (self as unknown as { telescope: Telescope }).telescope.start(s), settings);
    expect(status.percent).toBe(100);
    expect(consensusDownloads(await workerLog(first)).length).toBeGreaterThan(0);

    const tab = await browser.context.newPage();
    const browse = (path: string) => `chrome-extension://${browser.extensionId}/extension/pages/browse.html?url=${encodeURIComponent(`http://127.0.0.1:${sitePort}${path}`)}`;
    await tab.goto(browse('/one'));
    await expect.poll(() => tab.frameLocator('#view').locator('#h').textContent(), { timeout: 60_000 }).toBe('Page /one');

    // Stop the worker the way Chromium's idle timer does. Playwright keeps one Worker object for
    // the extension's worker target across a stop and start (it neither closes nor announces a
    // new one; an evaluate waits until the worker runs again), so a marker in the old instance's
    // globals tells the instances apart.
    await first.evaluate(() => { (self as unknown as { marker?: number }).marker = 1; });
    const cdp = await browser.context.newCDPSession(tab);
    const states: string[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', (e) => { for (const v of e.versions) states.push(v.runningStatus); });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await expect.poll(() => states.at(-1), { timeout: 10_000 }).toBe('stopped');

    // The next page load starts it again, and the page comes through Tor.
    await tab.goto(browse('/two'));
    await expect.poll(() => tab.frameLocator('#view').locator('#h').textContent(), { timeout: 60_000 }).toBe('Page /two');
    expect(states).toContain('starting');
    const [second] = browser.context.serviceWorkers();
    expect(await second!.evaluate(() => (self as unknown as { marker?: number }).marker)).toBeUndefined();

    const log = await workerLog(second!);
    expect(log.join('\n')).toMatch(/worker restarted: resuming the Tor client with the saved settings/);
    expect(log.join('\n')).toMatch(/using the cached consensus and microdescriptors/);
    expect(consensusDownloads(log), log.join('\n')).toEqual([]);
    await cdp.detach();
    await closePage(tab);
  }, 180_000);
});
