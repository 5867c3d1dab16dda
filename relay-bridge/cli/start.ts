import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reuseOrStart } from '../../e2e/testnet/index.ts';
import { launchWithExtension } from '../../e2e/chromium.ts';
import { parseRelayConfig } from '../relay/config.ts';
import { RelayBridge } from '../relay/relay.ts';
import { loggerFromLogLines } from './node-log.ts';

/**
 * `npm start`: the whole thing on one machine. A private tor network on 127.0.0.1, a relay-bridge
 * with a WebSocket port in front of it, and Chromium with the built extension configured for that
 * bridge and those authorities; the extension's status page shows the bootstrap and the local
 * demo site fetched through Tor. Without a display Chromium runs headless and a screenshot of the
 * page is written. Ctrl-C stops everything this started.
 */
export async function runStartCli(args: string[]): Promise<number> {
  const home = process.env.TELESCOPE_HOME ?? join(tmpdir(), 'telescope-start');
  await mkdir(home, { recursive: true });
  const extensionDir = fileURLToPath(new URL('../../dist/extension', import.meta.url));
  if (!existsSync(join(extensionDir, 'manifest.json'))) {
    console.error(`start: no built extension in ${extensionDir}: run npm run build (npm start does it first)`);
    return 1;
  }
  const say = (line: string) => console.log(line);
  say('start: bringing up the private tor network (about a minute and a half the first time)...');
  const testnet = await reuseOrStart(join(home, 'testnet'), { log: say, timeoutMs: 300_000 });
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
    ...desc.authorities.map((a) => a.dirAuthorityLine),
    '',
  ].join('\n'));
  const log = loggerFromLogLines(['notice stdout']);
  const relay = await RelayBridge.start({ config, dataDirectory: join(home, 'relay'), log });
  const bridgeLine = relay.bridgeLines().webSocket!;
  say(`start: relay-bridge up: ${bridgeLine}`);
  const headless = !process.env.DISPLAY || args.includes('--headless');
  const browser = await launchWithExtension(extensionDir, { headless });
  say(`start: Chromium ${headless ? '(headless) ' : ''}with the extension ${browser.extensionId}`);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('start: stopping Chromium, the relay-bridge and the network');
    await browser.close().catch((e: unknown) => say(`start: closing Chromium: ${String(e)}`));
    await relay.stop();
    if (!testnet.reused || process.env.TELESCOPE_KEEP_TESTNET !== '1') await testnet.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  try {
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
      say(`start: no display, Chromium runs headless; screenshots: ${shot} (status), ${tabShot} (onion tab), ${onionShot} (onion service)`);
    }
    say('start: running; press Ctrl-C to stop everything');
    if (args.includes('--once')) await stop(0);
    await new Promise(() => {});
  } catch (e) {
    say(`start: failed: ${e instanceof Error ? e.message : String(e)}`);
    await stop(1);
  }
  return 0;
}
