import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePage, launchWithExtension, type ExtensionBrowser } from '../testnet/chromium.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { startRelayProcess, type RelayProcess } from '../testnet/relay-process.ts';
import { sha256, sharedTestnet } from './shared-testnet.ts';
import { makeTestCa, type TestCa } from '../testnet/tls-test-ca.ts';

/**
 * HTTPS through Tor from the extension's service worker: TLS (libcurl.js, Mbed TLS in WebAssembly)
 * runs in the worker over a Tor stream to an HTTPS server in this process, on 127.0.0.1 with a
 * certificate from a CA made here. The worker trusts that CA only when the settings add it
 * (extraCaPem); a certificate for another name fails even then. Names are resolved by the exit
 * (the private network's exits resolve "localhost" and names under it to 127.0.0.1), never here.
 */
const extensionDir = fileURLToPath(new URL('../dist/extension', import.meta.url));

interface FetchResult { status: number; length: number; sha256: string; text: string; circuit: string[] }
type Telescope = {
  start(s: { bridges: string[]; authorities: string[]; extraCaPem?: string[] }): Promise<{ percent: number; tag: string }>;
  fetch(url: string, key?: string): Promise<FetchResult>;
};
type Outcome = { ok: FetchResult; ms: number } | { error: string };

const MIB = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 0xff);

let desc: TestnetDescription;
let relay: RelayProcess;
let browser: ExtensionBrowser;
let ca: TestCa;
let httpsServer: Server;
let httpServer: Server;
let httpsPort: number;
let httpPort: number;
/** SNI of each TLS connection the HTTPS server accepted (false: none sent, as for an IP address). */
const sni: (string | false | null)[] = [];

function site(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/plain' }).end('hello through Tor over TLS');
  else if (req.url === '/bytes/1m') res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(MIB.length) }).end(MIB);
  else res.writeHead(404).end();
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

async function start(extraCaPem?: string[]): Promise<void> {
  const settings = { bridges: [relay.webSocketLine], authorities: desc.authorities.map((a) => a.dirAuthorityLine), ...(extraCaPem ? { extraCaPem } : {}) };
  const status = await browser.serviceWorker.evaluate((s) => (self as unknown as { telescope: Telescope }).telescope.start(s), settings);
  expect(status.percent).toBe(100);
}

/** Fetch through Tor in the worker; errors come back as their message. */
function fetchInWorker(url: string, key?: string): Promise<Outcome> {
  return browser.serviceWorker.evaluate(async ([u, k]) => {
    const t0 = performance.now();
    try {
      const ok = await (self as unknown as { telescope: Telescope }).telescope.fetch(u, k);
      return { ok, ms: performance.now() - t0 };
    } catch (e) {
      // (Error names are minified in the bundle: the message is what identifies the failure.)
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }, [url, key] as const);
}

function expectOk(o: Outcome): { ok: FetchResult; ms: number } {
  if ('error' in o) throw new Error(`fetch failed: ${o.error}`);
  return o;
}

beforeAll(async () => {
  if (!existsSync(`${extensionDir}/manifest.json`)) throw new Error(`no built extension at ${extensionDir}: run npm run build`);
  desc = sharedTestnet();
  ca = makeTestCa();
  const { key, cert } = ca.issue({ dns: ['site.localhost'], ip: ['127.0.0.1'] });
  const tls = createHttpsServer({ key, cert }, site);
  tls.on('secureConnection', (s: TLSSocket) => sni.push(s.servername));
  httpsServer = tls;
  httpsPort = await listen(httpsServer);
  httpServer = createHttpServer(site);
  httpPort = await listen(httpServer);
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0']);
  browser = await launchWithExtension(extensionDir);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await relay?.stop();
  for (const s of [httpsServer, httpServer]) {
    (s as unknown as { closeAllConnections?: () => void } | undefined)?.closeAllConnections?.();
    s?.close();
  }
  ca?.dispose();
});

describe('HTTPS in the extension service worker, through Tor', () => {
  it('fetches over TLS with the test CA added, by IP address and by a name the exit resolves', async () => {
    await start([ca.caPem]);
    const byIp = expectOk(await fetchInWorker(`https://127.0.0.1:${httpsPort}/`));
    expect(byIp.ok.status).toBe(200);
    expect(byIp.ok.text).toBe('hello through Tor over TLS');
    expect(byIp.ok.circuit).toHaveLength(3);
    expect(byIp.ok.circuit[0]).toContain(relay.fingerprint.slice(0, 8));
    console.log(`first HTTPS request (libcurl.js WebAssembly loaded on demand): ${byIp.ms.toFixed(0)} ms`);

    const byName = expectOk(await fetchInWorker(`https://site.localhost:${httpsPort}/`));
    expect(byName.ok.status).toBe(200);
    expect(byName.ok.text).toBe('hello through Tor over TLS');
    // The name travelled to the server as SNI (curl connected by name; the exit resolved it).
    expect(sni).toContain('site.localhost');
  }, 180_000);

  it('rejects a certificate that does not name the host, even from the trusted CA', async () => {
    const r = await fetchInWorker(`https://wrong.localhost:${httpsPort}/`);
    expect('error' in r ? r.error : 'succeeded').toMatch(/TLS certificate of wrong\.localhost:\d+: not accepted/);
  }, 120_000);

  it('moves 1 MiB over HTTPS and over HTTP on the same circuit (timings logged)', async () => {
    const times: Record<'http' | 'https', number[]> = { http: [], https: [] };
    for (let round = 0; round < 3; round++) {
      for (const scheme of ['http', 'https'] as const) {
        const port = scheme === 'https' ? httpsPort : httpPort;
        const r = expectOk(await fetchInWorker(`${scheme}://127.0.0.1:${port}/bytes/1m`, 'bench'));
        expect(r.ok.status).toBe(200);
        expect(r.ok.length).toBe(MIB.length);
        expect(r.ok.sha256).toBe(sha256(MIB));
        times[scheme].push(r.ms);
      }
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    console.log(`1 MiB through Tor, same circuit: http ${times.http.map((t) => t.toFixed(0)).join('/')} ms (median ${median(times.http).toFixed(0)}), `
      + `https ${times.https.map((t) => t.toFixed(0)).join('/')} ms (median ${median(times.https).toFixed(0)})`);
  }, 180_000);

  it('keeps one TLS connection per site for its requests, and connects afresh after "new circuit for this site"', async () => {
    const key = 'kept.example';
    const url = `https://site.localhost:${httpsPort}/`;
    const before = sni.length;
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = expectOk(await fetchInWorker(url, key));
      expect(r.ok.text).toBe('hello through Tor over TLS');
      // A request on the kept connection still reports the circuit it went over.
      expect(r.ok.circuit).toHaveLength(3);
      times.push(r.ms);
    }
    // One stream, one TLS handshake for the ten requests (the server counts its TLS connections).
    expect(sni.length - before).toBe(1);
    const rest = times.slice(1);
    console.log(`10 sequential HTTPS GETs through Tor, one site: ${times.reduce((x, y) => x + y, 0).toFixed(0)} ms in all; `
      + `first (stream + TLS handshake) ${times[0]!.toFixed(0)} ms, then ${(rest.reduce((x, y) => x + y, 0) / rest.length).toFixed(0)} ms each on the kept connection`);

    // "New circuit for this site", as the popup sends it from an extension page.
    const page = await browser.context.newPage();
    try {
      await page.goto(`chrome-extension://${browser.extensionId}/extension/pages/status.html`);
      const reply = await page.evaluate((site) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<{ ok: boolean }> } } })
        .chrome.runtime.sendMessage({ type: 'new-circuit', site }), key);
      expect(reply.ok).toBe(true);
    } finally {
      await closePage(page);
    }
    const after = expectOk(await fetchInWorker(url, key));
    expect(after.ok.text).toBe('hello through Tor over TLS');
    expect(sni.length - before).toBe(2);
    expect(expectOk(await fetchInWorker(url, key)).ok.status).toBe(200);
    expect(sni.length - before).toBe(2);
  }, 180_000);

  it('rejects the test server\'s certificate when the settings do not add its CA', async () => {
    await start();
    const r = await fetchInWorker(`https://127.0.0.1:${httpsPort}/`);
    expect('error' in r ? r.error : 'succeeded').toMatch(/TLS certificate of 127\.0\.0\.1:\d+: not accepted/);
  }, 180_000);
});
