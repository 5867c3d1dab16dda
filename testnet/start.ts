import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { reuseOrStart, stopTestnet, type Testnet } from './index.ts';
import { whenParentGone } from '../node-platform/process-watch.ts';
import { launchWithExtension, type ExtensionBrowser } from './chromium.ts';
import { TelescopeError, type ErrorKind } from '../shared/util/index.ts';
import { parseRelayConfig } from '../relay-bridge/relay/config.ts';
import { TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS } from './relay-process.ts';
import { RelayBridge } from '../relay-bridge/relay/relay.ts';
import { loggerFromLogLines } from '../node-platform/node-log.ts';

/** A step of stopping did not finish in time; the rest of the stop goes on without it. */
class StopTimeoutError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'timeout';
}

/** How long one step of stopping (closing Chromium, the relay-bridge) may take. */
const STOP_STEP_MS = 10_000;

function bounded(work: Promise<void>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StopTimeoutError(`${what} did not finish within ${STOP_STEP_MS / 1000} s`)), STOP_STEP_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `npm start` (`node --import tsx testnet/start.ts [--headless] [--once]`): the whole thing on one
 * machine. A private tor network on 127.0.0.1, a relay-bridge with a WebSocket port in front of it,
 * and Chromium with the built extension configured for that bridge and those authorities; the
 * extension's status page shows the bootstrap and the local demo site fetched through Tor. Without
 * a display (or with --headless) Chromium runs headless and screenshots are written.
 *
 * Nothing it starts outlives it, however it ends:
 * - Ctrl-C, SIGTERM, SIGHUP, or the death of the process that started it (npm, or the `sh -c`
 *   npm runs it through) run stop(): Chromium, the relay-bridge (in this process), then the
 *   network. Playwright's own signal handlers are off, because they close Chromium and exit the
 *   process before the network is stopped (that orphaned all ten tors on a SIGINT).
 * - SIGKILL runs nothing here, so each child watches for itself: the network is started with this
 *   process as its owner (tor's `__OwningControllerProcess`, polled every 15 s; the web server
 *   polls every second) and Chromium exits when Playwright's pipe to it closes.
 * TELESCOPE_KEEP_TESTNET=1 leaves the network running (not owned) for the next `npm start` to
 * reuse; without it a network found running in TELESCOPE_HOME is reused and stopped at the end.
 */
export async function runStartCli(args: string[]): Promise<number> {
  const home = process.env.TELESCOPE_HOME ?? join(tmpdir(), 'telescope-start');
  await mkdir(home, { recursive: true });
  const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));
  if (!existsSync(join(extensionDir, 'manifest.json'))) {
    console.error(`start: no built extension in ${extensionDir}: run npm run build (npm start does it first)`);
    return 1;
  }
  const say = (line: string) => console.log(line);
  // Progress lines go to whoever started us; when that was a pipe and its reader is gone (npm was
  // killed), a write fails with EPIPE, and that must not end the process halfway through stop().
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const keepTestnet = process.env.TELESCOPE_KEEP_TESTNET === '1';
  const testnetDir = join(home, 'testnet');

  // What is running so far; stop() takes down whatever has started, in reverse order.
  let testnet: Testnet | undefined;
  let relay: RelayBridge | undefined;
  let browser: ExtensionBrowser | undefined;
  let stopping = false;
  const stop = async (code: number, why: string): Promise<void> => {
    if (stopping) {
      say(`start: ${why}; still stopping (the network's processes get up to 7 s each)`);
      return;
    }
    stopping = true;
    say(`start: ${why}; stopping Chromium, the relay-bridge and the network`);
    const step = async (what: string, work: () => Promise<void>): Promise<void> => {
      try {
        await bounded(work(), what);
      } catch (e) {
        say(`start: ${what}: ${e instanceof Error ? e.message : String(e)}`);
        code = code || 1;
      }
    };
    // A browser that does not close in time is killed by Playwright's exit handler on process.exit.
    if (browser) await step('closing Chromium', () => browser!.close());
    if (relay) await step('stopping the relay-bridge', () => relay!.stop());
    if (!keepTestnet) {
      // Before reuseOrStart returns there is no handle yet: stop what network.json records so far
      // (whatever the harness starts after this dies with us, its owner).
      await (testnet ? testnet.stop() : stopTestnet(testnetDir)).catch((e: unknown) => {
        say(`start: stopping the network: ${e instanceof Error ? e.message : String(e)}`);
        code = code || 1;
      });
    }
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0, `${signal} received`));
  whenParentGone((why) => void stop(1, why));

  try {
    say('start: bringing up the private tor network (about a minute and a half the first time)...');
    testnet = await reuseOrStart(testnetDir, { log: say, timeoutMs: 300_000, ...(keepTestnet ? {} : { ownerPid: process.pid }) });
    const desc = testnet.description;
    const config = parseRelayConfig([
      'Nickname telescopedemo',
      'Address 127.0.0.1',
      'ORPort 127.0.0.1:auto',
      'WebSocketPort 127.0.0.1:auto',
      `DataDirectory ${join(home, 'relay')}`,
      'BridgeRelay 1',
      'PublishServerDescriptor 0',
      'ExitRelay 0',
      'TestingTorNetwork 1',
      'Log notice stdout',
      TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS,
      ...desc.authorities.map((a) => a.dirAuthorityLine),
      '',
    ].join('\n'));
    const log = loggerFromLogLines(['notice stdout']);
    relay = await RelayBridge.start({ config, dataDirectory: join(home, 'relay'), log });
    const bridgeLine = relay.bridgeLines().webSocket!;
    say(`start: relay-bridge up: ${bridgeLine}`);
    const headless = !process.env.DISPLAY || args.includes('--headless');
    browser = await launchWithExtension(extensionDir, { headless, handleSignals: false });
    say(`start: Chromium ${headless ? '(headless) ' : ''}with the extension ${browser.extensionId}`);
    const settings = { bridges: [bridgeLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
    const status = await browser.serviceWorker.evaluate(async (s) => (self as unknown as { telescope: { start(x: typeof s): Promise<{ percent: number; summary: string }> } }).telescope.start(s), settings);
    say(`start: the extension's Tor client bootstrapped ${status.percent}% (${status.summary})`);
    const demo = `http://127.0.0.1:${desc.web.port}/hello`;
    const page = await browser.context.newPage();
    await page.goto(`chrome-extension://${browser.extensionId}/extension/pages/status.html?fetch=${encodeURIComponent(demo)}`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 60_000 });
    const circuit = await page.textContent('#circuit');
    say(`start: fetched ${demo} through Tor, circuit ${circuit}`);
    // The onion tab, open on the demo site.
    const tab = await browser.context.newPage();
    await tab.goto(`chrome-extension://${browser.extensionId}/extension/pages/browse.html?url=${encodeURIComponent(demo)}`);
    await tab.frameLocator('#view').locator('body').waitFor({ timeout: 60_000 });
    say(`start: the onion tab shows ${demo}`);
    // A second onion tab on the network's onion service, as a person would type its address.
    const onionUrl = `http://${desc.onionService.address}/hello`;
    const onionTab = await browser.context.newPage();
    await onionTab.goto(onionUrl).catch(() => undefined); // redirected into the onion tab
    await onionTab.waitForURL(/\/extension\/pages\/browse\.html/, { timeout: 15_000, waitUntil: 'commit' });
    await onionTab.frameLocator('#view').getByText('Hello').first().waitFor({ timeout: 90_000 });
    say(`start: a second onion tab shows the onion service ${onionUrl}`);
    if (headless) {
      const shot = join(home, 'telescope.png');
      const tabShot = join(home, 'onion-tab.png');
      const onionShot = join(home, 'onion-service.png');
      await page.screenshot({ path: shot, fullPage: true });
      await tab.screenshot({ path: tabShot });
      await onionTab.screenshot({ path: onionShot });
      say(`start: Chromium runs headless (${process.env.DISPLAY ? '--headless' : 'no display'}); screenshots: ${shot} (status), ${tabShot} (onion tab), ${onionShot} (onion service)`);
    }
    say('start: running; press Ctrl-C to stop everything');
    if (args.includes('--once')) await stop(0, '--once');
    await new Promise(() => {});
  } catch (e) {
    say(`start: failed: ${e instanceof Error ? e.message : String(e)}`);
    await stop(1, 'failed');
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runStartCli(process.argv.slice(2));
}
