import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';

/**
 * The protocol core inside the extension's real MV3 service worker (not a page): the built
 * extension loads in Debian's Chromium and its worker runs the 3-hop circuit self-check.
 * `npm test` builds dist/extension before this project runs.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

describe('extension service worker', () => {
  let browser: ExtensionBrowser;

  beforeAll(async () => {
    if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
    browser = await launchWithExtension(extensionDir);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('loads as an MV3 extension with a 32-letter id', () => {
    expect(browser.extensionId).toMatch(/^[a-p]{32}$/);
  });

  it('runs the circuit self-check with the shared/ core', async () => {
    const report = await browser.serviceWorker.evaluate(async () => {
      const api = (self as unknown as { telescope: { runSelfcheck(): Promise<{ ok: boolean; steps: { name: string; ok: boolean }[] }> } }).telescope;
      return api.runSelfcheck();
    });
    expect(report.steps.filter((s) => !s.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.steps.length).toBeGreaterThan(5);
  });
});
