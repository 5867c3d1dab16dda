import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchWithExtension, type ExtensionBrowser } from './chromium.ts';
import type { TestnetDescription } from './testnet/index.ts';
import { startRelayProcess, type RelayProcess } from './relay-process.ts';
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
});
