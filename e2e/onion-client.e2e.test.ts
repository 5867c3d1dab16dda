import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { OnionServiceError, encodeOnionAddress } from '../shared/onion/index.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startTelescopeClient, type RunningClient } from '../testnet/telescope-client.ts';
import { curl } from '../testnet/curl.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';

/**
 * The Telescope client reaches the private network's tor 0.4.9 onion service: descriptor from the
 * HSDirs the hash ring names, introduction with hs-ntor, rendezvous, streams on the virtual hop —
 * through the SOCKS port, as an application would.
 */

let desc: TestnetDescription;
let tc: RunningClient;

beforeAll(async () => {
  desc = sharedTestnet();
  tc = await startTelescopeClient(desc);
}, 120_000);

afterAll(async () => {
  await tc?.stop();
});

const viaTelescope = (host: string, path: string) => curl(['--socks5-hostname', `127.0.0.1:${tc.socksPort}`, `http://${host}${path}`]);

describe('Telescope client to a tor onion service', () => {
  it('curl fetches /hello and the 1 MiB body from the .onion address', async () => {
    const onion = desc.onionService.address;
    const hello = await viaTelescope(onion, '/hello');
    expect(hello.code, `${hello.stderr}\n${tc.log.slice(-20).join('\n')}`).toBe(0);
    expect(sha256(hello.body)).toBe(desc.web.paths['/hello'].sha256);
    const big = await viaTelescope(onion, '/bytes/1m');
    expect(big.code, big.stderr).toBe(0);
    expect(big.body.length).toBe(1024 * 1024);
    expect(sha256(big.body)).toBe(desc.web.paths['/bytes/1m'].sha256);
    // Both streams rode one rendezvous circuit: 3 relays of ours and the service as a virtual hop.
    const onionStreams = tc.streams.filter((s) => s.host === onion);
    expect(new Set(onionStreams.map((s) => s.circuit.circuit)).size).toBe(1);
    expect(onionStreams[0]!.circuit.circuit.length).toBe(4);
    expect(onionStreams[0]!.circuit.purpose).toBe('onion');
  }, 120_000);

  it('says clearly when no descriptor exists for an address', async () => {
    const nobody = encodeOnionAddress(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const e = await tc.client.connect(nobody, 80, { isolationKey: 'nobody' }).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(OnionServiceError);
    expect((e as OnionServiceError).failure).toBe('descriptor-not-found');
    expect((e as OnionServiceError).kind).toBe('onion-service-not-found');
    expect((e as Error).message).toMatch(/no descriptor on any of the \d+ responsible HSDirs/);
  }, 120_000);
});
