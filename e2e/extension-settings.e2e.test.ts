import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * The settings page and the errors a person can act on: bridge and DirAuthority lines typed into
 * the extension's options page, a line that does not parse named by its line number, which
 * authority set is in use (the built-in public authorities when no DirAuthority line is given),
 * and, when bootstrapping is stuck, the popup saying why ("cannot reach the Tor network" for a
 * bridge URL nobody listens on, and the worker's bootstrap ends; "consensus not valid" for
 * authorities that did not sign the network's consensus, built in or typed) until settings that
 * work bring it to 100%. Every bridge is on loopback: with the public authorities built in, the
 * private network's bridge is refused for serving a consensus they did not sign, and nothing else
 * is ever dialled.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

let desc: TestnetDescription;
let relay: RelayProcess;
let browser: ExtensionBrowser;
let settingsPage: Page;
let popup: Page;

/** A loopback port with nothing listening on it (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function save(bridges: string, authorities: string): Promise<{ state: string | null; text: string | null }> {
  await settingsPage.fill('#bridges', bridges);
  await settingsPage.fill('#authorities', authorities);
  await settingsPage.click('#save');
  await expect.poll(() => settingsPage.getAttribute('#result', 'data-state'), { timeout: 10_000 }).not.toBe('busy');
  return { state: await settingsPage.getAttribute('#result', 'data-state'), text: await settingsPage.textContent('#result') };
}

const problemOf = async (page: Page) => (await page.isVisible('#problem')) ? await page.textContent('#problem-message') : '';

const PUBLIC_SET = "Tor's public directory authorities (built in, from tor 0.4.9.3-alpha-dev: moria1, tor26, dizum, gabelmoo, dannenberg, maatuska, longclaw, bastet, faravahar)";

beforeAll(async () => {
  if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0']);
  browser = await launchWithExtension(extensionDir);
  settingsPage = await browser.context.newPage();
  popup = await browser.context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
});

describe('settings page and bootstrap problems', () => {
  it('a fresh install says no bridge is configured; the popup opens the settings page', async () => {
    await popup.goto(`chrome-extension://${browser.extensionId}/extension/pages/popup.html`);
    await expect.poll(() => problemOf(popup), { timeout: 10_000 }).toBe('No bridge configured');
    expect(await popup.textContent('#problem-hint')).toMatch(/Settings/);
    const opened = browser.context.waitForEvent('page', { timeout: 10_000 });
    await popup.click('#settings');
    const page = await opened;
    await page.waitForLoadState();
    expect(page.url()).toBe(`chrome-extension://${browser.extensionId}/extension/pages/settings.html`);
    await closePage(page);
    await settingsPage.goto(`chrome-extension://${browser.extensionId}/extension/pages/settings.html`);
    await settingsPage.waitForSelector('body[data-loaded]');
    expect(await settingsPage.inputValue('#bridges')).toBe('');
    // Nothing typed yet: a bridge line alone would use the built-in public authorities.
    expect(await settingsPage.textContent('#authority-set')).toBe(PUBLIC_SET);
    expect(await settingsPage.getAttribute('#authority-set', 'data-kind')).toBe('built-in');
    expect(await settingsPage.getAttribute('#authorities', 'placeholder')).toBe("Empty: the public network's authorities, built in");
    expect(await popup.textContent('#authorities')).toBe(PUBLIC_SET);
  });

  it('names the line that does not parse, and keeps nothing', async () => {
    const auth = desc.authorities.map((a) => a.dirAuthorityLine).join('\n');
    const r = await save(`# my bridges\n\n${relay.webSocketLine.replace(/ ntor=\S+/, '')}`, auth);
    expect(r.state).toBe('error');
    expect(r.text).toBe('Bridge lines, line 3: the bridge line lacks ntor=…');
    expect(await settingsPage.getAttribute('#bridges', 'aria-invalid')).toBe('true');
    const a = await save(relay.webSocketLine, `${auth}\nDirAuthority broken 127.0.0.1:1`);
    expect(a.text).toMatch(/^DirAuthority lines, line 4: /);
    const stored = await browser.serviceWorker.evaluate(async () => {
      const c = (globalThis as unknown as { chrome: { storage: { local: { get(k: string): Promise<Record<string, unknown>> } } } }).chrome;
      return (await c.storage.local.get('settings')).settings;
    });
    expect(stored).toBeUndefined();
  });

  it('a bridge URL nobody listens on, with nothing but the bridge line: "cannot reach the Tor network", naming the URL; the worker\'s bootstrap ends', async () => {
    const port = await closedPort();
    const url = `ws://127.0.0.1:${port}/`;
    const line = relay.webSocketLine.replace(relay.webSocketUrl, url);
    const r = await save(line, '');
    expect(r).toEqual({ state: 'ok', text: 'Saved. Reconnecting with the new settings…' });
    await popup.reload();
    const unreachable = `Cannot reach the Tor network: the bridge ${url} does not answer`;
    await expect.poll(() => problemOf(popup), { timeout: 30_000 }).toBe(unreachable);
    expect(await popup.textContent('#problem-hint')).toMatch(/relay-bridge is running/);
    // The error's kind crossed from the service worker with the words.
    expect(await popup.getAttribute('#problem', 'data-error-kind')).toBe('channel-failed');
    expect(await popup.textContent('#bridge')).toContain(url);
    // The settings page shows the same problem, and the saved settings come back on reload.
    await settingsPage.reload();
    await settingsPage.waitForSelector('body[data-loaded]');
    expect(await settingsPage.inputValue('#bridges')).toBe(line);
    await expect.poll(() => problemOf(settingsPage), { timeout: 10_000 }).toBe(unreachable);
    // The worker does not hang: a start with these settings gives up after its retries, with the
    // same problem standing (no time is asserted: only that it ends).
    const ended = await browser.serviceWorker.evaluate(async (s) => {
      const t = (self as unknown as { telescope: { start(s: unknown): Promise<unknown>; status(): { problem?: { message: string } } } }).telescope;
      return t.start(s).then(() => ({ rejected: false, error: '', problem: '' }), (e: unknown) => ({ rejected: true, error: e instanceof Error ? e.message : String(e), problem: t.status().problem?.message ?? '' }));
    }, { bridges: [line], authorities: [] });
    expect(ended).toEqual({ rejected: true, error: expect.stringMatching(/^bootstrap stalled/), problem: unreachable });
    await expect.poll(() => popup.textContent('#phase'), { timeout: 10_000 }).toMatch(/stopped retrying \(Save in Settings to try again\)$/);
    expect(await problemOf(popup)).toBe(unreachable);
  }, 120_000);

  it('the private network\'s loopback bridge with the built-in public authorities: "consensus not valid", naming the built-in set', async () => {
    const r = await save(relay.webSocketLine, '');
    expect(r.state).toBe('ok');
    expect(await settingsPage.textContent('#authority-set')).toBe(PUBLIC_SET);
    await expect.poll(() => problemOf(popup), { timeout: 60_000 }).toBe('Consensus not valid: 0 of 9 built-in authorities signed it, 5 needed');
    expect(await popup.textContent('#problem-hint')).toMatch(/network other than the one whose authorities are built in/);
    expect(await popup.getAttribute('#problem', 'data-error-kind')).toBe('not-enough-signatures');
    expect(await popup.textContent('#authorities')).toBe(PUBLIC_SET);
  });

  it('authorities that did not sign the consensus: "consensus not valid"', async () => {
    // The right addresses and relay fingerprints, but v3 identities of nobody.
    const wrong = desc.authorities.map((a, i) => a.dirAuthorityLine.replace(a.v3ident, `${i}`.repeat(40)));
    const r = await save(relay.webSocketLine, wrong.join('\n'));
    expect(r.state).toBe('ok');
    await expect.poll(() => problemOf(popup), { timeout: 60_000 }).toBe(`Consensus not valid: 0 of ${desc.authorities.length} configured authorities signed it, ${Math.floor(desc.authorities.length / 2) + 1} needed`);
    expect(await popup.textContent('#problem-hint')).toMatch(/DirAuthority/);
    expect(await popup.getAttribute('#problem', 'data-error-kind')).toBe('not-enough-signatures');
  });

  it('settings that work: bootstrapped 100%, no problem left', async () => {
    const r = await save(relay.webSocketLine, desc.authorities.map((a) => a.dirAuthorityLine).join('\n'));
    expect(r.state).toBe('ok');
    await expect.poll(() => popup.textContent('#phase'), { timeout: 120_000 }).toMatch(/^Bootstrapped 100%/);
    expect(await popup.isVisible('#problem')).toBe(false);
    expect(await popup.textContent('#bridge')).toContain(relay.webSocketUrl);
    const custom = `${desc.authorities.length} custom authorities: ${desc.authorities.map((a) => a.nickname).join(', ')}`;
    expect(await popup.textContent('#authorities')).toBe(custom);
    expect(await settingsPage.textContent('#authority-set')).toBe(custom);
    expect(await settingsPage.getAttribute('#authority-set', 'data-kind')).toBe('custom');
  }, 180_000);
});
