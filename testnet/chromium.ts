/**
 * Launching Debian's Chromium with the built extension loaded, for Playwright tests and the
 * in-browser benchmarks. `npx playwright install` cannot download browsers here, so playwright-core
 * drives /usr/bin/chromium (override with CHROMIUM_PATH).
 */
import { chromium, type BrowserContext, type Page, type Worker } from 'playwright-core';
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

/** Whether `promise` settles within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  return Promise.race([promise.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}

/**
 * Close a page, also when the close races a navigation commit. Chromium can acknowledge
 * Target.closeTarget and then drop it when a commit swaps the page's frame host
 * (crbug.com/536385539); Playwright's page.close() then waits forever (playwright#42366, not fixed
 * in 1.65). Our extension tests hit this right after waiting for a redirect to an extension page to
 * *commit*: the close is re-issued over CDP until the page is gone, and a page that still will not
 * close fails the test with that said, instead of hanging it.
 */
export async function closePage(page: Page, attempts = 5): Promise<void> {
  if (page.isClosed()) return;
  const closed = new Promise<void>((resolve) => page.once('close', () => resolve()));
  let closeError: unknown;
  const closing = page.close().catch((e: unknown) => { closeError = e; });
  for (let i = 0; i < attempts; i++) {
    if (await settlesWithin(closed, 2_000)) return;
    const session = await page.context().newCDPSession(page);
    const { targetInfo } = await session.send('Target.getTargetInfo');
    await session.send('Target.closeTarget', { targetId: targetInfo.targetId });
  }
  if (await settlesWithin(closed, 2_000)) return;
  await settlesWithin(closing, 0);
  throw new Error(`the page at ${page.url()} did not close after ${attempts + 1} close requests${closeError instanceof Error ? ` (page.close: ${closeError.message})` : ''}`);
}
