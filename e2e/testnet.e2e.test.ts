import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive, restartRelay, reuseOrStart, startTestnet, stopTestnet, readDescription, TestnetError, type Testnet } from '../testnet/index.ts';
import { httpGetViaSocks } from '../testnet/socks.ts';
import { HELLO_TEXT } from '../testnet/web-content.ts';

/**
 * The private tor network end to end: it comes up, its description matches what the tors
 * publish, the web server answers through tor's SocksPort via an exit and via the onion
 * service, and `stop` leaves no process behind.
 */

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const alive = isProcessAlive;

describe('private tor network', () => {
  let dir: string;
  let net: Testnet;
  const progress: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telescope-testnet-'));
    // Owned by this test worker: killed mid-run, the worker takes the network with it.
    net = await startTestnet({ dir, log: (l) => progress.push(l), ownerPid: process.pid });
  });

  afterAll(async () => {
    await net?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports progress and writes network.json', () => {
    expect(progress.at(-1)).toMatch(/^testnet: up in \d+ s; description in .*network\.json$/);
    expect(progress.some((l) => /authorities voting\.\.\. 3\/3/.test(l))).toBe(true);
    expect(readDescription(dir)).toEqual(net.description);
    expect(net.description.ready).toBe(true);
  });

  it('describes 3 authorities and 8 relays with keys and flags', () => {
    const d = net.description;
    expect(d.torVersion).toMatch(/^0\.4\.9\./);
    expect(d.authorities.map((a) => a.nickname)).toEqual(['test000a', 'test001a', 'test002a']);
    for (const a of d.authorities) {
      expect(a.dirAuthorityLine).toBe(`DirAuthority ${a.nickname} orport=${a.orPort} no-v2 v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`);
      expect(a.v3ident).toMatch(/^[0-9A-F]{40}$/);
      // The authority's torrc uses exactly this line.
      expect(readFileSync(join(dir, a.nickname, 'torrc'), 'utf8')).toContain(a.dirAuthorityLine);
    }
    expect(d.relays).toHaveLength(8);
    const fprs = new Set(d.relays.map((r) => r.fingerprint));
    expect(fprs.size).toBe(8);
    for (const r of d.relays) {
      expect(r.fingerprint).toMatch(/^[0-9A-F]{40}$/);
      expect(Buffer.from(r.ed25519Identity, 'base64')).toHaveLength(32);
      expect(Buffer.from(r.ntorOnionKey, 'base64')).toHaveLength(32);
      expect(r.address).toBe('127.0.0.1');
      expect(r.flags).toEqual(expect.arrayContaining(['Running', 'Valid', 'HSDir']));
      expect(r.flags.includes('Guard')).toBe(r.roles.includes('guard'));
      expect(r.flags.includes('Exit')).toBe(r.roles.includes('exit'));
      expect(r.flags.includes('Authority')).toBe(r.roles.includes('authority'));
    }
    const exits = d.relays.filter((r) => r.roles.includes('exit'));
    expect(exits).toHaveLength(2);
    expect(exits[0]?.exitPolicy).not.toEqual(exits[1]?.exitPolicy);
    expect(d.relays.filter((r) => r.roles.includes('guard')).length).toBeGreaterThanOrEqual(2);
    expect(d.relays.filter((r) => !r.roles.includes('authority'))).toHaveLength(5);
    expect(d.onionService.address).toMatch(/^[a-z2-7]{56}\.onion$/);
    expect(d.onionService.port).toBe(80);
    expect(d.web.paths['/bytes/5m'].size).toBe(5_242_880);
    expect(d.pids).toHaveLength(11); // web server + 10 tors
    for (const pid of d.pids) expect(alive(pid)).toBe(true);
    expect(d.ownerPid).toBe(process.pid);
    for (const p of d.processes) {
      expect(readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').join(' ')).toMatch(new RegExp(`(__OwningControllerProcess|--owner-pid) ${process.pid} $`));
    }
  });

  it('fetches /hello and /bytes/1m through the client via an exit', async () => {
    const { socksPort } = net.description.client;
    const { port, paths } = net.description.web;
    const hello = await httpGetViaSocks({ socksPort, host: '127.0.0.1', port, path: '/hello' });
    expect(hello.status).toBe(200);
    expect(Buffer.from(hello.body).toString('utf8')).toBe(HELLO_TEXT);
    const big = await httpGetViaSocks({ socksPort, host: '127.0.0.1', port, path: '/bytes/1m' });
    expect(big.status).toBe(200);
    expect(big.body.length).toBe(paths['/bytes/1m'].size);
    expect(sha256(big.body)).toBe(paths['/bytes/1m'].sha256);
  });

  it('resolves "localhost" at the exit without leaving the machine', async () => {
    const { socksPort } = net.description.client;
    const res = await httpGetViaSocks({ socksPort, host: 'localhost', port: net.description.web.port, path: '/hello' });
    expect(res.status).toBe(200);
    // Any other name gets NXDOMAIN from the loopback resolver: tor answers with a SOCKS error.
    await expect(httpGetViaSocks({ socksPort, host: 'example.com', port: 80, path: '/', timeoutMs: 60_000 })).rejects.toThrow(/SOCKS5 request/);
  });

  it('fetches /hello and /bytes/1m through the onion service', async () => {
    const { socksPort } = net.description.client;
    const host = net.description.onionService.address;
    const { paths } = net.description.web;
    const hello = await httpGetViaSocks({ socksPort, host, port: 80, path: '/hello' });
    expect(hello.status).toBe(200);
    expect(sha256(hello.body)).toBe(paths['/hello'].sha256);
    const big = await httpGetViaSocks({ socksPort, host, port: 80, path: '/bytes/1m' });
    expect(big.status).toBe(200);
    expect(sha256(big.body)).toBe(paths['/bytes/1m'].sha256);
  });

  it('is reused by reuseOrStart instead of starting a second network', async () => {
    const again = await reuseOrStart(dir);
    expect(again.reused).toBe(true);
    expect(again.description.startedAt).toBe(net.description.startedAt);
  });

  it('refuses to start a second network in the same directory', async () => {
    await expect(startTestnet({ dir })).rejects.toThrow(/already running/);
  });

  it('restarts a killed relay with its keys and the same description', async () => {
    const victim = net.description.processes.find((p) => p.nickname === 'test006e')!;
    process.kill(victim.pid, 'SIGKILL');
    const updated = await restartRelay(dir, 'test006e');
    const now = updated.processes.find((p) => p.nickname === 'test006e')!;
    expect(now.pid).not.toBe(victim.pid);
    expect(alive(now.pid)).toBe(true);
    expect(updated.pids).toContain(now.pid);
    expect(updated.pids).not.toContain(victim.pid);
    // It keeps the network's owner.
    expect(readFileSync(`/proc/${now.pid}/cmdline`, 'utf8')).toContain(`__OwningControllerProcess\0${process.pid}\0`);
    expect(readDescription(dir)).toEqual(updated);
    expect(updated.relays).toEqual(net.description.relays);
    const res = await httpGetViaSocks({ socksPort: updated.client.socksPort, host: '127.0.0.1', port: updated.web.port, path: '/hello' });
    expect(res.status).toBe(200);
  });

  it('stops every process it started', async () => {
    const pids = readDescription(dir)!.pids;
    const { stopped } = await stopTestnet(dir);
    expect(stopped).toBe(pids.length);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    // A second stop finds nothing left to stop.
    expect((await stopTestnet(dir)).stopped).toBe(0);
  });
});

describe('private tor network that cannot come up in time', () => {
  it('names the tors that were not ready, quotes their logs, and cleans up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-testnet-fail-'));
    try {
      // No consensus exists 20 s after start (the first vote takes longer).
      const err = await startTestnet({ dir, timeoutMs: 20_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TestnetError);
      const message = (err as Error).message;
      expect(message).toMatch(/did not come up within 20 s/);
      expect(message).toMatch(/test0\d\d[a-z]: /);
      expect(message).toContain('notice.log');
      const desc = readDescription(dir);
      expect(desc?.ready).toBe(false);
      expect(desc?.pids.length).toBeGreaterThan(0);
      for (const pid of desc?.pids ?? []) expect(alive(pid)).toBe(false);
      expect(existsSync(join(dir, 'test000a', 'notice.log'))).toBe(true);
    } finally {
      await stopTestnet(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
