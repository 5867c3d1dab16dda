import { connect as tcpConnect } from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, fromHex } from '../shared/bytes/index.ts';
import { Channel, WebSocketTransport, type WebSocketConstructor } from '../shared/channel/index.ts';
import { Circuit } from '../shared/circuit/index.ts';
import { TorClient } from '../shared/client/index.ts';
import { MemoryStore } from '../shared/util/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { startTorClient } from '../testnet/tor-process.ts';
import { curl } from '../testnet/curl.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';
import { readResponse } from '../shared/http/index.ts';

/**
 * The relay-bridge in the private network: browsers' path (WebSocket) into 3-hop circuits through
 * tor relays, robustness against garbage on both listeners, and memory with many circuits.
 */

let desc: TestnetDescription;
let relay: RelayProcess;

beforeAll(async () => {
  desc = sharedTestnet();
  relay = await startRelayProcess(desc, [
    'BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0',
    // The memory test below opens 1000 circuits on one connection as fast as the machine goes:
    // it measures memory, not limits, so the per-connection CREATE rate is off for this relay
    // and tor's per-address defence is set to allow them (its defaults would refuse the
    // address's 90th circuit within a second, on any machine that is fast enough).
    'CreateRateLimit 0',
    'DoSCircuitCreationBurst 2000',
  ]);
}, 90_000);

afterAll(async () => {
  await relay?.stop();
});

/** A Telescope client whose bridge is the relay-bridge, reached over WebSocket. */
function clientViaWebSocket(through: RelayProcess = relay): TorClient {
  const relay = through;
  return new TorClient({
    authorities: authoritiesOf(desc),
    transports: (t) => (t.port === relay.orPort
      ? WebSocketTransport.connect(relay.webSocketUrl, { WebSocket: WebSocket as unknown as WebSocketConstructor })
      : tlsTransportFactory(t)),
    store: new MemoryStore(),
    bridges: [{ address: '127.0.0.1', port: relay.orPort, fingerprint: relay.fingerprint, ntorOnionKey: fromBase64(relay.ntorKey) }],
    rules: { enforceDistinctSubnets: false },
  });
}

async function fetchThrough(client: TorClient, path: string): Promise<{ body: Uint8Array; path: string[] }> {
  const { stream, circuit } = await client.connect('127.0.0.1', desc.web.port);
  await stream.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\n\r\n`));
  return { body: (await readResponse(stream)).body, path: circuit.path.map((r) => r.fingerprint) };
}

describe('relay-bridge', () => {
  it('carries the Telescope client over WebSocket into 3-hop circuits through tor relays', async () => {
    const client = clientViaWebSocket();
    try {
      // The whole bootstrap (consensus, certificates, microdescriptors) comes through the bridge.
      await client.bootstrap();
      for (const p of ['/hello', '/bytes/1m', '/bytes/5m'] as const) {
        const { body, path } = await fetchThrough(client, p);
        expect(sha256(body), p).toBe(desc.web.paths[p].sha256);
        expect(path).toHaveLength(3);
        expect(path[0]).toBe(relay.fingerprint);
        expect(desc.relays.map((r) => r.fingerprint)).toEqual(expect.arrayContaining(path.slice(1)));
      }
    } finally {
      await client.close();
    }
  });

  it('serves a tor 0.4.9 client that uses it as its bridge (UseBridges 1): the 5 MiB body checks out', async () => {
    const tor = await startTorClient(desc, ['UseBridges 1', `Bridge 127.0.0.1:${relay.orPort} ${relay.fingerprint}`]);
    try {
      const r = await curl(['--socks5-hostname', `127.0.0.1:${tor.socksPort}`, `http://127.0.0.1:${desc.web.port}/bytes/5m`]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(r.body)).toBe(desc.web.paths['/bytes/5m'].sha256);
      // tor learnt the bridge's descriptor from the bridge itself and built its circuits through it.
      expect(tor.log()).toMatch(/new bridge descriptor 'telescopebridge'/);
    } finally {
      await tor.stop();
    }
  }, 180_000);

  it('holds to its BandwidthRate: 1 MiB through a 256 KB/s bridge takes about 4 s', async () => {
    const slow = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0', 'BandwidthRate 256 KBytes', 'BandwidthBurst 256 KBytes'], 'telescopeslow');
    const client = clientViaWebSocket(slow);
    try {
      await client.bootstrap();
      await fetchThrough(client, '/hello');
      const t0 = Date.now();
      const { body } = await fetchThrough(client, '/bytes/1m');
      const seconds = (Date.now() - t0) / 1000;
      expect(sha256(body)).toBe(desc.web.paths['/bytes/1m'].sha256);
      console.log(`1 MiB through a bridge limited to 256 KB/s: ${seconds.toFixed(1)} s`);
      // The bucket may start full (one burst, 256 KB) and reads count cell overhead: ≥ 2.5 s.
      expect(seconds).toBeGreaterThan(2.5);
    } finally {
      await client.close();
      await slow.stop();
    }
  }, 120_000);

  it('survives garbage, truncated cells and protocol violations on both listeners', async () => {
    let seed = 12345;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => rand(256));
    // A valid VERSIONS cell, then mutations of what a client would send next.
    const versions = Uint8Array.of(0, 0, 7, 0, 4, 0, 4, 0, 5);
    const mutate = (b: Uint8Array) => { const c = b.slice(); for (let i = 0; i < 1 + rand(4); i++) c[rand(c.length)] = rand(256); return c; };
    const payloads = (): Uint8Array[] => [
      randomBytes(1 + rand(2000)),
      versions.subarray(0, 1 + rand(versions.length - 1)),
      mutate(versions),
      new Uint8Array([...versions, ...randomBytes(514 * (1 + rand(4)))]),
      new Uint8Array([...versions, 0x80, 0, 0, 1, 10, ...randomBytes(509)]), // CREATE2 before NETINFO
    ];
    const deadline = Date.now() + 8_000;
    let sent = 0;
    while (Date.now() < deadline) {
      const batch = payloads();
      await Promise.all(batch.map((data, i) => (i % 2 === 0 ? sendOverWebSocket(data) : sendOverTls(data))));
      sent += batch.length;
    }
    // Raw TCP garbage on the TLS port, too.
    await new Promise<void>((resolve) => { const s = tcpConnect(relay.orPort, '127.0.0.1', () => s.end(Buffer.from(randomBytes(3000)))); s.on('close', () => resolve()); s.on('error', () => resolve()); });
    expect(sent).toBeGreaterThan(50);
    expect(relay.output()).not.toMatch(/Uncaught|TypeError|RangeError|unhandled/i);
    // And a normal client still works.
    const client = clientViaWebSocket();
    try {
      await client.bootstrap();
      const { body } = await fetchThrough(client, '/hello');
      expect(sha256(body)).toBe(desc.web.paths['/hello'].sha256);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('keeps its memory bounded with 1000 circuits open (measured and printed)', async () => {
    const before = relay.rssKiB();
    const transport = await WebSocketTransport.connect(relay.webSocketUrl, { WebSocket: WebSocket as unknown as WebSocketConstructor });
    const channel = await Channel.open(transport, { expected: { rsaIdentity: fromHex(relay.fingerprint) } });
    const target = { rsaIdentity: fromHex(relay.fingerprint), ntorOnionKey: fromBase64(relay.ntorKey) };
    const circuits: Circuit[] = [];
    try {
      for (let i = 0; i < 1000; i += 50) {
        circuits.push(...await Promise.all(Array.from({ length: 50 }, () => Circuit.create(channel, target))));
        // The relay closes circuits idle for a minute (as tor does): keep every one in use,
        // however long building them takes on this machine.
        for (const c of circuits) c.sendDrop(0, 1);
      }
      const after = relay.rssKiB();
      const perCircuit = ((after - before) * 1024) / 1000;
      console.log(`relay-bridge memory: ${before} KiB before, ${after} KiB with 1000 circuits open (${Math.round(perCircuit)} bytes per circuit)`);
      expect(circuits.every((c) => c.isOpen)).toBe(true);
      // Bounded: a circuit costs kilobytes (crypto state, windows), not megabytes.
      expect(after - before).toBeLessThan(64 * 1024);
    } finally {
      for (const c of circuits) c.destroy();
      channel.close();
    }
  }, 120_000);
});

describe('relay-bridge DoS defences', () => {
  it('refuses an address over DoSConnectionMaxConcurrentCount (100) while another address still connects', async () => {
    // 127.0.0.1 is the testnet relays' address, exempt as in tor: the abuser and the honest
    // client come from other loopback addresses.
    const open = (from: string) => new Promise<WebSocket | undefined>((resolve) => {
      const ws = new WebSocket(relay.webSocketUrl, { localAddress: from });
      ws.once('open', () => resolve(ws));
      ws.once('error', () => resolve(undefined));
      ws.once('close', () => resolve(undefined));
    });
    const held: WebSocket[] = [];
    try {
      let refused = 0;
      for (let i = 0; i < 110; i++) {
        const ws = await open('127.0.0.2');
        if (ws) held.push(ws);
        else refused++;
      }
      // Never more than the cap at once (the connect-rate mark may refuse earlier).
      expect(held.length).toBeLessThanOrEqual(100);
      expect(refused).toBeGreaterThanOrEqual(10);
      const honest = await open('127.0.0.3');
      expect(honest).toBeDefined();
      honest!.terminate();
    } finally {
      for (const ws of held) ws.terminate();
    }
  }, 60_000);
});

function sendOverWebSocket(data: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(relay.webSocketUrl);
    const done = () => { ws.terminate(); resolve(); };
    ws.on('open', () => { ws.send(data); setTimeout(done, 50); });
    ws.on('error', done);
    ws.on('close', done);
  });
}

function sendOverTls(data: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: relay.orPort, rejectUnauthorized: false }, () => { s.write(data); setTimeout(() => s.destroy(), 50); });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}
