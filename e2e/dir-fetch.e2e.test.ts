import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorClient } from '../shared/client/index.ts';
import { Circuit } from '../shared/circuit/index.ts';
import { DirectoryFetcher, dirGetResponse, downloadMicrodescs, type DirCache } from '../shared/circmgr/index.ts';
import { DirectoryState, microdescRequest } from '../shared/directory/index.ts';
import { relayTarget } from '../shared/netdir/index.ts';
import { MemoryStore } from '../shared/util/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { dirPortGet } from '../node-platform/dirport.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * Directory traffic against tor 0.4.9 caches: microdescriptors fetched in parallel from several
 * directory guards over BEGIN_DIR, every answer checked against the digests asked for, and the
 * caches answering deflated (what Telescope asks for), over BEGIN_DIR and over a DirPort.
 */

let desc: TestnetDescription;
let client: TorClient;

beforeAll(async () => {
  desc = sharedTestnet();
  client = new TorClient({
    authorities: authoritiesOf(desc),
    transports: tlsTransportFactory,
    store: new MemoryStore(),
    rules: { enforceDistinctSubnets: false },
  });
  await client.bootstrapDirectory();
}, 120_000);

afterAll(() => {
  client?.close();
});

describe('microdescriptors from tor caches', () => {
  it('come in parallel from several directory guards, each answer holding exactly what was asked', async () => {
    const fetcher = new DirectoryFetcher({ pool: client.pool, guards: client.guards, netDir: () => client.netDir, bridges: () => [], authorities: [] });
    const caches = await fetcher.caches();
    // The network has two Guard-flagged relays: both are directory guards.
    expect(caches.length).toBeGreaterThanOrEqual(2);
    expect(caches.every((c) => c.kind === 'relay')).toBe(true);
    // A state with the client's verified consensus and none of the microdescriptors.
    const now = new Date();
    const state = new DirectoryState(authoritiesOf(desc).map((a) => ({ fingerprint: a.v3ident })), { skewMs: 5 * 60_000 });
    expect(state.restore({ consensus: client.directory.consensusText()!, certs: client.directory.certificateTexts().map((c) => c.text).join('') }, now)).toEqual([]);
    const wanted = state.missingMicrodescs();
    // Every relay of the consensus (the network's tors, and any relay-bridge other tests published).
    expect(wanted.length).toBe(client.directory.current!.routers.length);
    expect(wanted.length).toBeGreaterThanOrEqual(desc.relays.length);
    // One digest per request, so that the requests outnumber the caches.
    const answeredBy = new Map<string, number>();
    let active = 0, maxActive = 0;
    const result = await downloadMicrodescs(wanted.map((d) => [d]), {
      sources: caches,
      parallelism: 4,
      fetch: async (cache: DirCache, digests, signal) => {
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          const body = await fetcher.fetchFrom(cache, microdescRequest(digests).path, signal);
          answeredBy.set(cache.id, (answeredBy.get(cache.id) ?? 0) + 1);
          return body;
        } finally {
          active--;
        }
      },
      apply: (body, digests) => state.addMicrodescBatch(new TextDecoder('latin1').decode(body), digests),
    });
    expect(result.charges).toEqual([]);
    expect(result.gaveUp).toEqual([]);
    expect(state.microdescCoverage()).toEqual({ have: wanted.length, total: wanted.length });
    expect(answeredBy.size).toBeGreaterThanOrEqual(2);
    expect(maxActive).toBeGreaterThanOrEqual(2);
  });

  it('a tor cache answers deflated over BEGIN_DIR, and the document is the same as identity', async () => {
    const nd = client.requireNetDir();
    const guard = nd.relays.find((r) => r.flags.has('Guard'))!;
    const channel = await client.pool.get(relayTarget(guard));
    const circuit = await Circuit.create(channel, relayTarget(guard));
    try {
      const digests = client.directory.current!.routers.map((r) => r.microdescDigestBase64);
      const res = await dirGetResponse(await circuit.openDirStream(), microdescRequest(digests).path);
      expect(res.headers.get('content-encoding')).toBe('deflate');
      expect(res.wireBytes).toBeLessThan(res.body.length);
      // What inflated is exactly the microdescriptors asked for.
      const check = new DirectoryState(authoritiesOf(desc).map((a) => ({ fingerprint: a.v3ident })), { skewMs: 5 * 60_000 });
      check.restore({ consensus: client.directory.consensusText()!, certs: client.directory.certificateTexts().map((c) => c.text).join('') }, new Date());
      expect(check.addMicrodescBatch(new TextDecoder('latin1').decode(res.body), digests)).toEqual({ added: digests.length, unrequested: 0, missing: [] });
    } finally {
      circuit.destroy();
    }
  });

  it('an authority\'s DirPort answers deflated too, and dirPortGet inflates it', async () => {
    const auth = desc.authorities[0]!;
    const raw = await new Promise<{ encoding: string | undefined; bytes: number }>((resolve, reject) => {
      const req = request({ host: auth.address, port: auth.dirPort, path: '/tor/keys/all', headers: { 'Accept-Encoding': 'deflate, gzip, identity' }, timeout: 30_000 }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => { bytes += c.length; });
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], bytes }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', reject);
      req.end();
    });
    expect(raw.encoding).toBe('deflate');
    const certs = new TextDecoder().decode(await dirPortGet(auth.address, auth.dirPort, '/tor/keys/all'));
    expect(certs.match(/^dir-key-certificate-version 3$/gm)?.length).toBe(desc.authorities.length);
    expect(raw.bytes).toBeLessThan(certs.length);
  });
});
