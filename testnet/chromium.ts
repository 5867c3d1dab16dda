/**
 * Launching Debian's Chromium with the built extension loaded, for Playwright tests and the
 * in-browser benchmarks. `npx playwright install` cannot download browsers here, so playwright-core
 * drives /usr/bin/chromium (override with CHROMIUM_PATH).
 */
import { chromium, type BrowserContext, type Worker } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that keep Chromium quiet on a closed network and runnable as root in CI. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ExtensionBrowser {
  readonly context: BrowserContext;
  /** The extension's background service worker. */
  readonly serviceWorker: Worker;
  readonly extensionId: string;
  close(): Promise<void>;
}

/**
 * Start Chromium (headless unless `headless: false`) with the unpacked extension at `extensionDir`.
 * `handleSignals: false` leaves SIGINT/SIGTERM/SIGHUP to the caller: Playwright's own handlers
 * close the browser and then exit the process, before the caller has stopped anything else.
 */
export async function launchWithExtension(extensionDir: string, opts: { headless?: boolean; handleSignals?: boolean } = {}): Promise<ExtensionBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'telescope-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: opts.headless ?? true,
    ...(opts.handleSignals === false ? { handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false } : {}),
    args: [...CHROMIUM_FLAGS, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  });
  const serviceWorker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 30_000 }));
  const extensionId = new URL(serviceWorker.url()).host;
  return {
    context,
    serviceWorker,
    extensionId,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
