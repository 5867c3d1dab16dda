import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_DIR_AUTHORITIES } from '../shared/directory/index.ts';
import { launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import { HELLO_TEXT } from '../testnet/web-content.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * The extension's built-in path, without public traffic: the extension is built with its built-in
 * authorities replaced by the private network's (TELESCOPE_BUILTIN_NETWORK names a file of
 * DirAuthority and FallbackDir lines, into a folder of this test's own; dist/extension, which the
 * other tests load, is left alone). Given nothing but a bridge line, it verifies the consensus
 * against those built-in authorities, bootstraps and fetches a page in the onion tab; the settings
 * page and the popup name the built-in set. The shipped build's list is the public one, with no
 * trace of the replacement.
 */
const repo = fileURLToPath(new URL('..', import.meta.url));
const vite = join(repo, 'node_modules/vite/bin/vite.js');
const shippedDir = join(repo, 'dist/extension');

let desc: TestnetDescription;
let relay: RelayProcess;
let browser: ExtensionBrowser | undefined;
let workDir: string;
let outDir: string;
let networkFile: string;

/** Every JavaScript file of a built extension, concatenated. */
function builtCode(dir: string): string {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
  return files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
}

beforeAll(async () => {
  desc = sharedTestnet();
  workDir = await mkdtemp(join(tmpdir(), 'telescope-builtin-ext-'));
  outDir = join(workDir, 'extension');
  networkFile = join(workDir, 'builtin-network.torrc');
  // The private network as "the built-in network": its authorities, and a relay as a fallback
  // (parsed and checked like the authorities; the extension dials only its bridge).
  const relay0 = desc.relays[0]!;
  await writeFile(networkFile, [
    '# the private test network, standing in for the public one',
    ...desc.authorities.map((a) => a.dirAuthorityLine),
    `FallbackDir ${relay0.address}:${relay0.dirPort} orport=${relay0.orPort} id=${relay0.fingerprint}`,
    '',
  ].join('\n'));
  await promisify(execFile)(process.execPath, [vite, 'build', '--outDir', outDir, '--logLevel', 'warn'], {
    cwd: repo,
    env: { ...process.env, TELESCOPE_BUILTIN_NETWORK: networkFile },
    timeout: 120_000,
  });
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0']);
  browser = await launchWithExtension(outDir);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const names = () => desc.authorities.map((a) => a.nickname).join(', ');
const builtInSet = () => `The directory authorities built into this test build (built in, from TELESCOPE_BUILTIN_NETWORK=builtin-network.torrc: ${names()})`;

describe('the extension with its built-in authorities replaced by the private network\'s', () => {
  it('the test build holds the private network\'s authorities and none of the public ones; the shipped build the public ones and no override', () => {
    const test = builtCode(outDir);
    for (const a of desc.authorities) expect(test).toContain(a.v3ident);
    for (const a of PUBLIC_DIR_AUTHORITIES) expect(test).not.toContain(a.v3ident);
    const shipped = builtCode(shippedDir);
    for (const a of PUBLIC_DIR_AUTHORITIES) expect(shipped).toContain(a.v3ident);
    for (const a of desc.authorities) expect(shipped).not.toContain(a.v3ident);
    expect(shipped).not.toContain('TELESCOPE_BUILTIN_NETWORK');
  });

  it('an override build aimed at dist/extension is refused before anything is written', async () => {
    const before = readFileSync(join(shippedDir, 'background.js'), 'utf8');
    const refused = await promisify(execFile)(process.execPath, [vite, 'build', '--logLevel', 'error'], {
      cwd: repo,
      env: { ...process.env, TELESCOPE_BUILTIN_NETWORK: networkFile },
      timeout: 120_000,
    }).then(() => '', (e: { stderr?: string }) => e.stderr ?? String(e));
    expect(refused).toContain('TELESCOPE_BUILTIN_NETWORK is set: build into another folder (--outDir), not dist/extension');
    expect(readFileSync(join(shippedDir, 'background.js'), 'utf8')).toBe(before);
  });

  it('with nothing but a bridge line it bootstraps, names the built-in set, and fetches a page in the onion tab', async () => {
    const b = browser!;
    const settings = await b.context.newPage();
    await settings.goto(`chrome-extension://${b.extensionId}/extension/pages/settings.html`);
    await settings.waitForSelector('body[data-loaded]');
    expect(await settings.textContent('#authority-set')).toBe(builtInSet());
    await settings.fill('#bridges', relay.webSocketLine);
    await settings.fill('#authorities', '');
    await settings.click('#save');
    await expect.poll(() => settings.getAttribute('#result', 'data-state'), { timeout: 10_000 }).toBe('ok');
    expect(await settings.textContent('#authority-set')).toBe(builtInSet());
    expect(await settings.getAttribute('#authority-set', 'data-kind')).toBe('built-in');
    const stored = await b.serviceWorker.evaluate(async () => {
      const c = (globalThis as unknown as { chrome: { storage: { local: { get(k: string): Promise<Record<string, unknown>> } } } }).chrome;
      return (await c.storage.local.get('settings')).settings;
    });
    expect(stored).toEqual({ bridges: [relay.webSocketLine], authorities: [] });

    const popup: Page = await b.context.newPage();
    await popup.goto(`chrome-extension://${b.extensionId}/extension/pages/popup.html`);
    await expect.poll(() => popup.textContent('#phase'), { timeout: 120_000 }).toMatch(/^Bootstrapped 100%/);
    expect(await popup.isVisible('#problem')).toBe(false);
    expect(await popup.textContent('#authorities')).toBe(builtInSet());
    const status = await b.context.newPage();
    await status.goto(`chrome-extension://${b.extensionId}/extension/pages/status.html`);
    await expect.poll(() => status.textContent('#authorities'), { timeout: 10_000 }).toBe(builtInSet());

    const tab = await b.context.newPage();
    const url = `http://127.0.0.1:${desc.web.port}/hello`;
    await tab.goto(`chrome-extension://${b.extensionId}/extension/pages/browse.html?url=${encodeURIComponent(url)}`);
    await expect.poll(() => tab.frameLocator('#view').locator('body').textContent(), { timeout: 60_000 }).toContain(HELLO_TEXT.trim());
    await popup.goto(`chrome-extension://${b.extensionId}/extension/pages/popup.html?site=127.0.0.1`);
    await expect.poll(() => popup.locator('#circuit li').count(), { timeout: 10_000 }).toBe(3);
    expect((await popup.locator('#circuit li small').allTextContents())[0]).toContain(relay.fingerprint);
  }, 180_000);
});
