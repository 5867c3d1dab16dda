import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Circuit } from '../shared/circuit/index.ts';
import { relayTarget } from '../shared/netdir/index.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, waitForConsensusListing, type RelayProcess } from '../testnet/relay-process.ts';
import { startTelescopeClient, type RunningClient } from '../testnet/telescope-client.ts';
import { startTorClient } from '../testnet/tor-process.ts';
import { curl } from '../testnet/curl.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';
import { readResponse } from '../shared/http/index.ts';

/**
 * The relay-bridge as a public relay of the private network: it uploads its descriptor, the tor
 * authorities list it in their consensus as Running and Valid, tor relays extend circuits to it
 * (as a middle, the exit behind it accepts streams because it is a known relay), and a tor client
 * exits through it.
 */

let desc: TestnetDescription;
let relay: RelayProcess;

beforeAll(async () => {
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, ['PublishServerDescriptor 1', 'ExitRelay 1', 'ExitPolicy accept *:*', 'ExitPolicyRejectPrivate 0', 'OutboundBindAddress 127.0.0.1', 'ContactInfo telescope e2e'], 'telescoperelay');
}, 90_000);

afterAll(async () => {
  await relay?.stop();
});

describe('relay-bridge published to the tor authorities', () => {
  let entry: string | undefined;

  it('uploads its descriptor and appears in the consensus as Running and Valid', async () => {
    const uploaded = Date.now() + 30_000;
    while (!/uploaded our descriptor to authority test000a: 200/.test(relay.output()) && Date.now() < uploaded) await new Promise((r) => setTimeout(r, 200));
    expect(relay.output()).toMatch(/uploaded our descriptor to authority test000a: 200/);
    entry = await waitForConsensusListing(desc, relay.fingerprint);
    expect(entry, relay.output()).toMatch(/\ns [^\n]*Running/);
    expect(entry).toMatch(/\ns [^\n]*Valid/);
  }, 180_000);

  it('carries a circuit as the middle hop between tor relays; the tor exit accepts the stream', async () => {
    expect(entry).toBeDefined();
    const tc: RunningClient = await startTelescopeClient(desc);
    try {
      const listed = () => tc.client.requireNetDir().relays.find((r) => r.fingerprint === relay.fingerprint);
      const deadline = Date.now() + 90_000;
      while (!listed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
      const ours = listed();
      expect(ours, 'the client sees the relay in its consensus').toBeDefined();
      const named = (n: string) => tc.client.requireNetDir().relays.find((r) => r.nickname === n)!;
      // The exit checks that the previous hop is a relay it knows, and the relays around us learn of
      // us from a consensus they fetch at their own pace: retry, on other guards and exits, meanwhile.
      let body: Uint8Array | undefined;
      let lastError: unknown;
      const giveUp = Date.now() + 150_000;
      for (let attempt = 0; !body && Date.now() < giveUp; attempt++) {
        const guard = named(attempt % 2 ? 'test003r' : 'test004r');
        const exit = named(Math.floor(attempt / 2) % 2 ? 'test007e' : 'test006e');
        const circ = await Circuit.create(await tc.client.pool.get(relayTarget(guard)), relayTarget(guard));
        try {
          await circ.extend(relayTarget(ours!));
          await circ.extend(relayTarget(exit));
          const stream = await circ.openStream('127.0.0.1', desc.web.port);
          await stream.write(new TextEncoder().encode('GET /bytes/1m HTTP/1.0\r\n\r\n'));
          body = (await readResponse(stream)).body;
        } catch (e) {
          lastError = e;
          await new Promise((r) => setTimeout(r, 3000));
        } finally {
          circ.destroy();
        }
      }
      expect(body, String(lastError)).toBeDefined();
      expect(sha256(body!)).toBe(desc.web.paths['/bytes/1m'].sha256);
    } finally {
      await tc.stop();
    }
  }, 240_000);

  it('is the exit of a tor 0.4.9 client told to exit through it (ExitNodes)', async () => {
    expect(entry).toBeDefined();
    const tor = await startTorClient(desc, [`ExitNodes ${relay.fingerprint}`, 'StrictNodes 1']);
    try {
      const r = await curl(['--socks5-hostname', `127.0.0.1:${tor.socksPort}`, `http://127.0.0.1:${desc.web.port}/bytes/1m`], 150_000);
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(r.body)).toBe(desc.web.paths['/bytes/1m'].sha256);
    } finally {
      await tor.stop();
    }
  }, 240_000);
});
