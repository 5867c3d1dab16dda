import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x25519 } from '@noble/curves/ed25519.js';
import { toBase32 } from '../shared/bytes/index.ts';
import type { TorClient } from '../shared/client/index.ts';
import { OnionServiceError } from '../shared/onion/index.ts';
import type { Logger } from '../shared/util/index.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { authoritiesOf, startTelescopeClient, type RunningClient } from '../testnet/telescope-client.ts';
import { startTorClient, type TorClientProcess } from '../testnet/tor-process.ts';
import { curl } from '../testnet/curl.ts';
import { sharedTestnet } from './shared-testnet.ts';
import { ownedByThisProcess, stopChild } from '../testnet/stop-child.ts';
import { createNodeTorClient } from '../node-client/node-client.ts';

/**
 * Telescope hosts onion services: `telescope onion-service -f FILE`, started as an operator starts
 * it, with two HiddenServiceDirs (one open, one with an authorized client). tor 0.4.9 clients and
 * the Telescope client reach them through the private network of tor relays: introduction points,
 * descriptors on the HSDirs of both time periods, INTRODUCE2, rendezvous, streams to a local
 * HTTP server. Without the client key the second service stays out of reach.
 */

let desc: TestnetDescription;
let dir: string;
let web: Server;
let webPort: number;
let child: ChildProcess;
let out = '';
let open: string;
let authed: string;
const secret = randomBytes(8).toString('hex');
const body = `Hello from a Telescope onion service ${secret}\n`;
const alice = x25519.utils.randomSecretKey();
let tc: RunningClient | undefined;
let torWithKey: TorClientProcess | undefined;
const timings: Record<string, number> = {};

async function waitFor(re: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(out);
    if (m) return m;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`onion service: no ${what}:\n${out.split('\n').slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET / from an onion address over a TorClient stream (HTTP/1.0: the server closes when done). */
async function fetchVia(client: TorClient, host: string, isolationKey: string): Promise<string> {
  const { stream } = await client.connect(host, 80, { isolationKey });
  await stream.write(new TextEncoder().encode(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
  const raw = new TextDecoder().decode(await stream.readAll(1 << 20));
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

async function keyedTelescopeClient(host: string): Promise<{ client: TorClient; stop: () => Promise<void> }> {
  const data = await mkdtemp(join(tmpdir(), 'telescope-client-auth-'));
  const log: Logger = { debug: () => {}, info: () => {}, notice: () => {}, warn: () => {} };
  const client = createNodeTorClient({
    dataDirectory: data,
    authorities: authoritiesOf(desc),
    log,
    rules: { enforceDistinctSubnets: false },
    onionClientAuth: new Map([[host, alice]]),
  });
  await client.bootstrap();
  return { client, stop: async () => { await client.close(); await rm(data, { recursive: true, force: true }); } };
}

beforeAll(async () => {
  desc = sharedTestnet();
  dir = await mkdtemp(join(tmpdir(), 'telescope-onion-service-'));
  web = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((res) => web.listen(0, '127.0.0.1', () => res()));
  webPort = (web.address() as AddressInfo).port;

  await mkdir(join(dir, 'auth', 'authorized_clients'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'auth', 'authorized_clients', 'alice.auth'), `descriptor:x25519:${toBase32(x25519.getPublicKey(alice)).toUpperCase()}\n`);
  const torrc = join(dir, 'torrc');
  await writeFile(torrc, [
    ...desc.authorities.map((a) => a.dirAuthorityLine),
    'TestingTorNetwork 1',
    `DataDirectory ${dir}/data`,
    'Log notice stdout',
    `Log info file ${dir}/info.log`,
    `HiddenServiceDir ${dir}/open`,
    `HiddenServicePort 80 127.0.0.1:${webPort}`,
    'HiddenServiceNumIntroductionPoints 2',
    `HiddenServiceDir ${dir}/auth`,
    `HiddenServicePort 80 127.0.0.1:${webPort}`,
    '',
  ].join('\n'));
  const started = Date.now();
  child = spawn(process.execPath, ['bin/telescope.js', 'onion-service', '-f', torrc], { env: ownedByThisProcess(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });

  const addrs = [...(await waitFor(/onion service (\S+\.onion) \(HiddenServiceDir \S+\/open\)\n[^]*onion service (\S+\.onion) \(HiddenServiceDir \S+\/auth, 1 authorized client/, 'addresses', 30_000)).slice(1)];
  [open, authed] = addrs as [string, string];
  timings.addressesMs = Date.now() - started;
  // A tor client with the key bootstraps while the service publishes (tor reads its
  // ClientOnionAuthDir at startup, so the key file comes first).
  const authDir = join(dir, 'tor-client-auth');
  await mkdir(authDir, { mode: 0o700 });
  await writeFile(join(authDir, 'alice.auth_private'), `${authed.replace('.onion', '')}:descriptor:x25519:${toBase32(alice).toUpperCase()}\n`, { mode: 0o600 });
  const torStarting = startTorClient(desc, [`ClientOnionAuthDir ${authDir}`]);
  // Awaited below; this only keeps a failure before then from counting as an unhandled rejection.
  torStarting.catch(() => {});
  await waitFor(new RegExp(`onion service ${open.replace('.', '\\.')} published`), 'publication of the open service', 150_000);
  timings.publishOpenMs = Date.now() - started;
  await waitFor(new RegExp(`onion service ${authed.replace('.', '\\.')} published`), 'publication of the client-auth service', 150_000);
  timings.publishBothMs = Date.now() - started;
  torWithKey = await torStarting;
}, 300_000);

afterAll(async () => {
  console.log(`onion-service e2e timings (ms): ${JSON.stringify(timings)}`);
  await tc?.stop();
  await torWithKey?.stop();
  if (child) await stopChild(child);
  await new Promise<void>((res) => (web ? web.close(() => res()) : res()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const viaTor = (socksPort: number, host: string, port = 80) => curl(['--socks5-hostname', `127.0.0.1:${socksPort}`, `http://${host}:${port}/`], 90_000);

describe('telescope onion-service', () => {
  it('keeps its keys in tor\'s HiddenServiceDir layout and prints the address it has there', async () => {
    expect((await readFile(join(dir, 'open', 'hostname'), 'utf8')).trim()).toBe(open);
    expect((await readFile(join(dir, 'auth', 'hostname'), 'utf8')).trim()).toBe(authed);
    // Both ring uses of the schedule got the descriptor, on every responsible HSDir.
    for (const host of [open, authed]) {
      const line = new RegExp(`onion service ${host.replace('.', '\\.')} published \\(time periods (\\d+): (\\d+)/(\\d+) HSDirs, (\\d+): (\\d+)/(\\d+) HSDirs; (\\d+) introduction points\\)`).exec(out);
      expect(line, out).not.toBeNull();
      const [, p1, ok1, of1, p2, ok2, of2, intros] = line!.map(Number);
      expect(p2).toBe(p1! + 1);
      expect(ok1).toBe(of1);
      expect(ok2).toBe(of2);
      expect(of1).toBeGreaterThan(0);
      expect(intros).toBe(host === open ? 2 : 3);
    }
  });

  it('a tor 0.4.9 client fetches a page from it through curl', async () => {
    const t0 = Date.now();
    const r = await viaTor(desc.client.socksPort, open);
    timings.torFirstFetchMs = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${out.split('\n').slice(-20).join('\n')}`).toBe(0);
    expect(r.body.toString()).toBe(body);
    const t1 = Date.now();
    const again = await viaTor(desc.client.socksPort, open);
    timings.torSecondFetchMs = Date.now() - t1;
    expect(again.code, again.stderr).toBe(0);
    expect(again.body.toString()).toBe(body);
  }, 120_000);

  it('ends a stream to a port the service does not have, and its circuit (as tor does)', async () => {
    const r = await viaTor(desc.client.socksPort, open, 81);
    expect(r.code).not.toBe(0);
    expect(out + (await readFile(join(dir, 'info.log'), 'utf8'))).toMatch(/asked for port 81, which the service does not have; closing its circuit/);
    // The service is still there for the next request. tor may first try the rendezvous circuit
    // that is being torn down (the DESTROY is still on its way) and fail once.
    let ok = await viaTor(desc.client.socksPort, open);
    for (let i = 0; i < 3 && ok.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      ok = await viaTor(desc.client.socksPort, open);
    }
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.body.toString()).toBe(body);
  }, 120_000);

  it('the Telescope client fetches it too', async () => {
    tc = await startTelescopeClient(desc);
    const t0 = Date.now();
    const r = await curl(['--socks5-hostname', `127.0.0.1:${tc.socksPort}`, `http://${open}/`], 90_000);
    timings.telescopeFirstFetchMs = Date.now() - t0;
    expect(r.code, `${r.stderr}\n${tc.log.slice(-20).join('\n')}`).toBe(0);
    expect(r.body.toString()).toBe(body);
    const stream = tc.streams.find((s) => s.host === open)!;
    expect(stream.circuit.circuit.length).toBe(4);
  }, 120_000);

  it('with client authorization: unreachable without the key', async () => {
    const r = await viaTor(desc.client.socksPort, authed);
    expect(r.code, 'tor without the key must not get through').not.toBe(0);
    const e = await tc!.client.connect(authed, 80, { isolationKey: 'no-key' }).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(OnionServiceError);
    expect((e as OnionServiceError).failure).toBe('needs-client-auth');
    expect((e as OnionServiceError).kind).toBe('onion-service-missing-client-auth');
  }, 120_000);

  it('with client authorization: reachable with the key (Telescope client and tor)', async () => {
    const keyed = await keyedTelescopeClient(authed);
    try {
      expect(await fetchVia(keyed.client, authed, 'alice')).toBe(body);
    } finally {
      await keyed.stop();
    }
    const r = await viaTor(torWithKey!.socksPort, authed);
    expect(r.code, `${r.stderr}\n${torWithKey!.log().split('\n').slice(-15).join('\n')}`).toBe(0);
    expect(r.body.toString()).toBe(body);
  }, 150_000);
});
