import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorClient } from '../shared/client/index.ts';
import { Circuit } from '../shared/circuit/index.ts';
import { dirGet } from '../shared/circmgr/index.ts';
import { relayTarget } from '../shared/netdir/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { FileStore } from '../node-platform/file-store.ts';
import { MemoryStore } from '../shared/util/index.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { authoritiesOf, startTelescopeClient, type RunningClient } from '../testnet/telescope-client.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';
import { readResponse } from '../shared/http/index.ts';
import { ownedByThisProcess } from '../testnet/stop-child.ts';

/**
 * Circuit-level behaviour against tor 0.4.9 relays (leaky pipe, TRUNCATE and re-extend, DROP,
 * authenticated SENDMEs on uploads), the directory cache across restarts and its refresh, bridges,
 * RESOLVE, and the `telescope client` command itself.
 */

let desc: TestnetDescription;
let tc: RunningClient;
const relayNamed = (nick: string) => tc.client.requireNetDir().relays.find((r) => r.nickname === nick)!;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  desc = sharedTestnet();
  tc = await startTelescopeClient(desc);
}, 120_000);

afterAll(async () => {
  await tc?.stop();
});

describe('circuits against tor relays', () => {
  it('leaky pipe: BEGIN_DIR at hop 1 and BEGIN at hop 3 on one circuit, DROP to hop 2, then TRUNCATE and re-extend', async () => {
    const [guard, middle, exitA, exitB] = ['test003r', 'test005r', 'test006e', 'test007e'].map(relayNamed);
    const channel = await tc.client.pool.get(relayTarget(guard!));
    const circ = await Circuit.create(channel, relayTarget(guard!));
    try {
      await circ.extend(relayTarget(middle!));
      await circ.extend(relayTarget(exitA!));
      const dir = await circ.openDirStream({ hop: 0 });
      const descriptor = text(await dirGet(dir, '/tor/server/authority'));
      expect(descriptor).toMatch(/^router test003r /);
      const web = await circ.openStream('127.0.0.1', desc.web.port);
      await web.write(new TextEncoder().encode('GET /hello HTTP/1.0\r\n\r\n'));
      expect(text(await web.readAll())).toContain('Hello from the Telescope test network');
      circ.sendDrop(1, 100);
      // TRUNCATE after the middle and extend to the other exit: the same circuit goes on working.
      await circ.truncate(2);
      expect(circ.length).toBe(2);
      await circ.extend(relayTarget(exitB!));
      const again = await circ.openStream('localhost', desc.web.port);
      await again.write(new TextEncoder().encode('GET /bytes/50k HTTP/1.0\r\n\r\n'));
      expect(sha256((await readResponse(again)).body)).toBe(desc.web.paths['/bytes/50k'].sha256);
      expect(circ.isOpen).toBe(true);
    } finally {
      circ.destroy();
    }
  });

  it('uploads 3 MiB: the exit acknowledges with authenticated SENDMEs and every byte arrives', async () => {
    const payload = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 11)) & 0xff);
    const received = new Promise<{ length: number; sha: string }>((resolve) => {
      const server = createServer((s) => {
        const h = createHash('sha256');
        let length = 0;
        s.on('data', (c) => { h.update(c); length += c.length; if (length >= payload.length) { s.end('ok'); } });
        s.on('close', () => { server.close(); resolve({ length, sha: h.digest('hex') }); });
      }).listen(0, '127.0.0.1', async () => {
        const port = (server.address() as { port: number }).port;
        const { stream } = await tc.client.connect('127.0.0.1', port, { isolationKey: 'upload' });
        await stream.write(payload);
        expect(text(await stream.readAll())).toBe('ok');
      });
    });
    const got = await received;
    expect(got.length).toBe(payload.length);
    expect(got.sha).toBe(sha256(payload));
  });

  it('RESOLVE: tor-resolve asks the exit through the SOCKS port', async () => {
    const out = await new Promise<string>((resolve, reject) => execFile('tor-resolve', ['-5', 'localhost', `127.0.0.1:${tc.socksPort}`], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout.trim()))));
    expect(out).toBe('127.0.0.1');
  });
});

describe('directory cache and refresh', () => {
  it('a restarted client bootstraps from its cache without asking the authorities', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'telescope-cache-'));
    let firstContacts = 0;
    const make = () => new TorClient({
      authorities: authoritiesOf(desc),
      transports: tlsTransportFactory,
      store: new FileStore(dataDir),
      firstContact: { onAttempt: () => { firstContacts++; } },
      rules: { enforceDistinctSubnets: false },
    });
    try {
      const first = make();
      await first.bootstrap();
      await first.close();
      expect(firstContacts).toBeGreaterThan(0);
      firstContacts = 0;
      const second = make();
      await second.bootstrap();
      await second.close();
      expect(firstContacts).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('fetches a newer consensus before the current one expires', async () => {
    const nd = tc.client.requireNetDir();
    const before = nd.validAfter.getTime();
    const deadline = Date.now() + 150_000;
    while (tc.client.requireNetDir().validAfter.getTime() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
    const after = tc.client.requireNetDir();
    expect(after.validAfter.getTime()).toBeGreaterThan(before);
    expect(Date.now()).toBeLessThan(after.validUntil.getTime());
  }, 180_000);
});

describe('bridges', () => {
  it('bootstraps through a tor bridge given only by address and fingerprint, and uses it as first hop', async () => {
    const bridge = desc.relays.find((r) => r.nickname === 'test004r')!;
    const client = new TorClient({
      authorities: authoritiesOf(desc),
      transports: tlsTransportFactory,
      store: new MemoryStore(),
      bridges: [{ address: bridge.address, port: bridge.orPort, fingerprint: bridge.fingerprint }],
      rules: { enforceDistinctSubnets: false },
    });
    try {
      await client.bootstrap();
      const { stream, circuit } = await client.connect('127.0.0.1', desc.web.port);
      expect(circuit.path[0]!.fingerprint).toBe(bridge.fingerprint);
      await stream.write(new TextEncoder().encode('GET /hello HTTP/1.0\r\n\r\n'));
      expect(text(await stream.readAll())).toContain('Hello from the Telescope test network');
    } finally {
      await client.close();
    }
  });
});

describe('telescope client -f FILE', () => {
  const run = (torrc: string, until: RegExp | undefined, timeoutMs = 90_000) => new Promise<{ code: number | null; out: string; kill: () => Promise<void> }>((resolve) => {
    const child = spawn(process.execPath, ['bin/telescope.js', 'client', '-f', torrc], { env: ownedByThisProcess(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    // Stopping waits for the exit, so the caller can delete the data directory afterwards.
    const kill = () => new Promise<void>((r) => {
      if (child.exitCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve({ code: null, out, kill }); }, timeoutMs);
    const onData = (c: Buffer) => {
      out += c.toString();
      if (until && until.test(out)) { clearTimeout(timer); resolve({ code: null, out, kill }); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, kill }); });
  });

  it('bootstraps with tor-style progress and serves SOCKS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-cli-'));
    const port = await new Promise<number>((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
    const torrc = join(dir, 'torrc');
    await writeFile(torrc, [`SocksPort 127.0.0.1:${port}`, `DataDirectory ${dir}/data`, 'TestingTorNetwork 1', ...desc.authorities.map((a) => a.dirAuthorityLine), ''].join('\n'));
    const res = await run(torrc, /Bootstrapped 100% \(done\): Done/);
    try {
      expect(res.out).toMatch(/Bootstrapped 25% \(requesting_status\)/);
      expect(res.out).toMatch(/Bootstrapped 100% \(done\): Done/);
      const body = await new Promise<string>((resolve, reject) => execFile('curl', ['-sS', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${desc.web.port}/hello`], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
      expect(body).toBe('Hello from the Telescope test network\n');
    } finally {
      await res.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad config line, naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-cli-'));
    const torrc = join(dir, 'torrc');
    await writeFile(torrc, ['SocksPort 127.0.0.1:9999', '# a comment', 'SocksPrt 9050', ''].join('\n'));
    const res = await run(torrc, undefined, 30_000);
    await rm(dir, { recursive: true, force: true });
    expect(res.code).toBe(1);
    expect(res.out).toMatch(/line 3: unknown option 'SocksPrt'; did you mean 'SocksPort'\?/);
  });
});
