import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DirectoryState } from '../shared/directory/index.ts';
import { ConsensusRejectedError } from '../shared/netdoc/index.ts';
import { dirPortGet } from '../node-platform/dirport.ts';
import { restartRelay, type TestnetDescription } from '../testnet/index.ts';
import { startTelescopeClient, type RunningClient, type StreamRecord } from '../testnet/telescope-client.ts';
import { curl } from '../testnet/curl.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';

/**
 * The Telescope client against the private network of tor 0.4.9 relays: applications reach the
 * web server through its SOCKS port, exits are chosen by policy, SOCKS credentials isolate
 * streams, forged or stale consensuses are refused, and a dying exit costs one download, not
 * the client.
 */


let desc: TestnetDescription;
let tc: RunningClient;
const url = (path: string, host = '127.0.0.1') => `http://${host}:${desc.web.port}${path}`;
const viaTelescope = (path: string, extra: string[] = [], host?: string) => curl(['--socks5-hostname', `127.0.0.1:${tc.socksPort}`, ...extra, url(path, host)]);

beforeAll(async () => {
  desc = sharedTestnet();
  tc = await startTelescopeClient(desc);
}, 120_000);

afterAll(async () => {
  await tc?.stop();
});

const nicknameOf = (fp: string) => desc.relays.find((r) => r.fingerprint === fp)?.nickname;

describe('Telescope client through the private tor network', () => {
  it('bootstraps from the authorities and reports tor-style phases', () => {
    expect(tc.client.bootstrapStatus.percent).toBe(100);
    // Every relay of the network (others, such as relay-bridges other tests publish, may be listed too).
    const listed = tc.client.requireNetDir().relays.map((r) => r.fingerprint);
    expect(listed).toEqual(expect.arrayContaining(desc.relays.map((r) => r.fingerprint)));
  });

  it('curl fetches /hello and the 5 MiB body with the right SHA-256', async () => {
    const hello = await viaTelescope('/hello');
    expect(hello.code, hello.stderr).toBe(0);
    expect(sha256(hello.body)).toBe(desc.web.paths['/hello'].sha256);
    // By name: the exit resolves "localhost", the client never does.
    const big = await viaTelescope('/bytes/5m', [], 'localhost');
    expect(big.code, big.stderr).toBe(0);
    expect(big.body.length).toBe(5 * 1024 * 1024);
    expect(sha256(big.body)).toBe(desc.web.paths['/bytes/5m'].sha256);
    const last = tc.streams.at(-1)!;
    expect(last.host).toBe('localhost');
    expect(last.circuit.path).toHaveLength(3);
  });

  it('completes 20 parallel streams', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => viaTelescope(i % 2 ? '/bytes/50k' : '/bytes/1m')));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(r.body)).toBe(desc.web.paths[i % 2 ? '/bytes/50k' : '/bytes/1m'].sha256);
    });
  });

  it('sends a stream to a port only one exit allows through that exit', async () => {
    // test007e rejects port 465; test006e accepts everything.
    const allowing = desc.relays.filter((r) => r.roles.includes('exit') && !r.exitPolicy.includes('reject *:465'));
    expect(allowing.map((r) => r.nickname)).toEqual(['test006e']);
    const server: Server = createServer((s) => s.end('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n465'));
    await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(465, '127.0.0.1', () => res()); });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await curl(['--socks5-hostname', `127.0.0.1:${tc.socksPort}`, '-U', `port465-${i}:x`, 'http://127.0.0.1:465/']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.body.toString()).toBe('465');
        const exit = tc.streams.at(-1)!.circuit.path.at(-1)!;
        expect(nicknameOf(exit.fingerprint)).toBe('test006e');
      }
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
  });

  it('isolates streams by SOCKS username: same user shares a circuit, different users do not', async () => {
    const before = tc.streams.length;
    for (const user of ['alice', 'alice', 'bob', 'bob']) {
      const r = await viaTelescope('/hello', ['-U', `${user}:secret`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const [a1, a2, b1, b2] = tc.streams.slice(before).map((s) => s.circuit.circuit);
    expect(a1).toBe(a2);
    expect(b1).toBe(b2);
    expect(a1).not.toBe(b1);
  });

  it('refuses a consensus with altered, missing or expired signatures and builds nothing from it', async () => {
    const auth = desc.authorities[0]!;
    // A young network's first consensuses may lack a signature: wait for one all three signed.
    let text = '';
    for (let i = 0; i < 60; i++) {
      text = new TextDecoder().decode(await dirPortGet(auth.address, auth.dirPort, '/tor/status-vote/current/consensus-microdesc'));
      if (text.split('\ndirectory-signature ').length - 1 === 3) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const certs = new TextDecoder().decode(await dirPortGet(auth.address, auth.dirPort, '/tor/keys/all'));
    const authorities = desc.authorities.map((a) => ({ fingerprint: a.v3ident }));
    const now = new Date();
    const fresh = () => {
      const s = new DirectoryState(authorities);
      s.addCerts(certs, now);
      return s;
    };
    // The genuine document is accepted: the checks below fail for the right reason.
    expect(fresh().addConsensus(text, now)).toBe('accepted');

    const sigStart = text.indexOf('directory-signature ');
    const blocks = text.slice(sigStart).split(/(?=directory-signature )/);
    expect(blocks).toHaveLength(3);
    const flipInSignature = (block: string) => block.replace(/(-----BEGIN SIGNATURE-----\n)(.)/, (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'));
    // A byte of the signed part altered: one digit of a relay's bandwidth (every signature breaks).
    const shifted = text.replace(/\nw Bandwidth=(\d)/, (_, d: string) => `\nw Bandwidth=${(Number(d) + 1) % 10}`);
    expect(shifted).not.toBe(text);
    const cases: [string, string, Date, RegExp][] = [
      ['one signature altered (leaving 1 of 3 good)', text.slice(0, sigStart) + flipInSignature(blocks[0]!) + blocks[1]!, now, /1 of 3 .* 2 needed/],
      ['too few signatures', text.slice(0, sigStart) + blocks[0]!, now, /1 of 3 .* 2 needed/],
      ['a signed byte altered', shifted, now, /0 of 3 .* 2 needed/],
      ['expired', text, new Date(Date.now() + 7 * 24 * 3600 * 1000), /expired/],
    ];
    for (const [what, doc, when, message] of cases) {
      const state = fresh();
      let error: unknown;
      try {
        state.addConsensus(doc, when);
      } catch (e) {
        error = e;
      }
      expect(error, what).toBeInstanceOf(ConsensusRejectedError);
      expect((error as Error).message, what).toMatch(message);
      expect(state.phase(when), what).toBe('need-consensus');
      expect(state.netDir(when), what).toBeUndefined();
    }
    // One bad signature among three still leaves a majority: tor accepts that, and so do we.
    expect(fresh().addConsensus(text.slice(0, sigStart) + flipInSignature(blocks[0]!) + blocks[1]! + blocks[2]!, now)).toBe('accepted');
  });

  it('gives a clean error when the exit dies mid-download, then succeeds on a new circuit', async () => {
    const download = viaTelescope('/bytes/5m', ['-U', 'doomed:x']);
    // As soon as the stream is open, kill the relay it exits through. (Not later: the 5 MiB cross
    // the network in about a second, and the kernel's loopback buffers would hold the rest.)
    const key = `socks:${Buffer.from('doomed').toString('hex')}:${Buffer.from('x').toString('hex')}`;
    let record: StreamRecord | undefined;
    for (let i = 0; i < 1000 && !record; i++) {
      record = tc.streams.find((s) => s.isolationKey === key);
      if (!record) await new Promise((r) => setTimeout(r, 10));
    }
    expect(record, 'the download stream opened').toBeDefined();
    const exit = record!.circuit.path.at(-1)!;
    const victim = desc.processes.find((p) => p.nickname === nicknameOf(exit.fingerprint))!;
    process.kill(victim.pid, 'SIGKILL');
    try {
      const r = await download;
      expect(r.code, 'curl reports the broken transfer').not.toBe(0);
      expect(r.body.length).toBeLessThan(5 * 1024 * 1024);
      const again = await viaTelescope('/bytes/1m', ['-U', 'doomed:x']);
      // On failure, the client's own account of the retry says which builds and streams failed.
      expect(again.code, `${again.stderr}\nclient log:\n${tc.log.slice(-40).join('\n')}`).toBe(0);
      expect(sha256(again.body)).toBe(desc.web.paths['/bytes/1m'].sha256);
      const next = tc.streams.at(-1)!;
      expect(next.circuit.circuit).not.toBe(record!.circuit.circuit);
      expect(next.circuit.path.at(-1)!.fingerprint).not.toBe(exit.fingerprint);
    } finally {
      // Later tests (and a reused network) need every relay back.
      await restartRelay(inject('testnetDir'), victim.nickname);
    }
  });
});
