import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBridge } from '../shared/config/index.ts';
import { httpGet } from '../shared/http/index.ts';
import { createNodeTorClient } from '../node-client/node-client.ts';
import { launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { buildScaleNetwork, writeDirectoryCache, type ScaleNetwork } from '../testnet/scale.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';

/**
 * A bootstrap at the public network's size: the live consensus' 9,745 entries re-signed by the
 * private network's authorities (testnet/scale.ts), served with a microdescriptor for every entry
 * by a relay-bridge that found them in its DataDirectory's cache. The Node client and the
 * extension bootstrap through that bridge (TLS, WebSocket), verify the consensus, hold every
 * relay, and fetch a page through a 3-hop circuit of the private network's relays. Its own
 * relay-bridge, not published, so the other e2e files never see this consensus.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

let desc: TestnetDescription;
let net: ScaleNetwork;
let relay: RelayProcess;

beforeAll(async () => {
  desc = sharedTestnet();
  net = await buildScaleNetwork(desc);
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'scalebridge', (data) => writeDirectoryCache(join(data, 'cache'), net));
  // The relay verifies and loads the cached documents before it serves them.
  const deadline = Date.now() + 60_000;
  while (!relay.output().includes('using the cached consensus and microdescriptors')) {
    if (Date.now() > deadline) throw new Error(`the relay-bridge did not load the scale network:\n${relay.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  await relay?.stop();
});

describe('bootstrap at full scale', () => {
  it('the scale network has the live size, loopback addresses only, and the private relays in it', () => {
    expect(net.relayCount).toBe(9745);
    expect(net.liveMicrodescs).toBe(450);
    const addresses = [...net.consensus.matchAll(/^r \S+ \S+ \S+ \S+ (\S+) /gm)].map((m) => m[1]!);
    expect(addresses).toHaveLength(9745);
    expect(addresses.every((a) => a.startsWith('127.'))).toBe(true);
    expect([...net.consensus.matchAll(/^a (\S+)$/gm)].every((m) => m[1]!.startsWith('[::1]:'))).toBe(true);
    expect(net.realRelays).toEqual(expect.arrayContaining(desc.relays.map((r) => r.fingerprint)));
  });

  it('the Node client bootstraps through the bridge over TLS and fetches a page', async () => {
    const dataDirectory = await mkdtemp(join(tmpdir(), 'telescope-scale-client-'));
    const client = createNodeTorClient({
      dataDirectory,
      authorities: authoritiesOf(desc),
      bridges: [parseBridge(`Bridge 127.0.0.1:${relay.orPort} ${relay.fingerprint}`)],
      rules: { enforceDistinctSubnets: false },
    });
    try {
      await client.bootstrap();
      const consensus = client.directory.current!;
      expect(consensus.validAfter.getTime()).toBe(net.validAfter.getTime());
      expect(consensus.routers).toHaveLength(9745);
      expect(client.directory.microdescCoverage()).toEqual({ have: 9745, total: 9745 });
      const { stream, circuit } = await client.connect('127.0.0.1', desc.web.port);
      const res = await httpGet(stream, new URL(`http://127.0.0.1:${desc.web.port}/hello`));
      expect(res.status).toBe(200);
      expect(sha256(res.body)).toBe(desc.web.paths['/hello'].sha256);
      // Bridge, then relays of the private network (the stand-ins have nothing listening).
      expect(circuit.path).toHaveLength(3);
      expect(circuit.path[0]!.fingerprint).toBe(relay.fingerprint);
      for (const hop of circuit.path.slice(1)) expect(net.realRelays).toContain(hop.fingerprint);
    } finally {
      await client.close();
      await rm(dataDirectory, { recursive: true, force: true });
    }
  }, 180_000);

  describe('the extension', () => {
    let browser: ExtensionBrowser | undefined;
    afterAll(async () => {
      await browser?.close();
    });

    it('bootstraps through the bridge over WebSocket and fetches a page', async () => {
      if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
      browser = await launchWithExtension(extensionDir);
      type Telescope = {
        start(s: { bridges: string[]; authorities: string[] }): Promise<{ percent: number }>;
        fetch(url: string): Promise<{ status: number; sha256: string; circuit: string[] }>;
        log(): string[];
      };
      const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine) };
      const status = await browser.serviceWorker.evaluate((s) => (self as unknown as { telescope: Telescope }).telescope.start(s), settings);
      expect(status.percent).toBe(100);
      const r = await browser.serviceWorker.evaluate((url) => (self as unknown as { telescope: Telescope }).telescope.fetch(url), `http://127.0.0.1:${desc.web.port}/hello`);
      expect(r.status).toBe(200);
      expect(r.sha256).toBe(desc.web.paths['/hello'].sha256);
      expect(r.circuit).toHaveLength(3);
      expect(r.circuit[0]).toContain(relay.fingerprint.slice(0, 8));
      // It loaded the scale consensus: its progress counted every relay's microdescriptor.
      const log = await browser.serviceWorker.evaluate(() => (self as unknown as { telescope: Telescope }).telescope.log());
      expect(log.join('\n')).toMatch(/9745/);
    }, 180_000);
  });
});
