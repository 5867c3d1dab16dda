import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createServer, type AddressInfo } from 'node:net';
import { createSocket } from 'node:dgram';
import { TelescopeError } from '../shared/util/index.ts';
import { answerDnsQuery, startDnsServer } from './dns-server.ts';
import { SocksError } from '../shared/socks/index.ts';
import { httpGetViaSocks, parseHttpResponse } from './socks.ts';
import { NETWORK_PLAN } from './plan.ts';
import { bandwidthFile, clientTorrc, dirAuthorityLine, onionServiceTorrc, relayTorrc, resolvConf } from './torrc.ts';
import { BYTE_PATHS, HELLO_TEXT, bodyFor, counterStream, describeWebPaths, sha256Hex } from './web-content.ts';
import { startWebServer } from './web-server.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive } from '../node-platform/process-watch.ts';

/**
 * The harness's own pieces without tor: DNS responder, SOCKS client, HTTP parsing, torrc text,
 * web content, and the lifelines of the processes it starts. The network itself, with tor, is
 * tested in e2e/testnet.e2e.test.ts.
 */

/** A DNS query for `name` (labels as given, so case is preserved) of type `qtype`. */
function dnsQuery(id: number, name: string, qtype: number): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]);
  return Uint8Array.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, qtype >> 8, qtype & 0xff, 0, 1]);
}

describe('DNS responder', () => {
  it('answers localhost (any case) with 127.0.0.1 and echoes the question exactly', () => {
    const q = dnsQuery(0xbeef, 'LoCaLhOsT', 1);
    const r = answerDnsQuery(q);
    expect(r).toBeDefined();
    const res = r!;
    expect([res[0], res[1]]).toEqual([0xbe, 0xef]);
    expect(res[2]! & 0x80).toBe(0x80); // QR
    expect(res[3]! & 0x0f).toBe(0); // NOERROR
    expect([res[6], res[7]]).toEqual([0, 1]); // one answer
    expect(Buffer.from(res.subarray(12, q.length)).equals(Buffer.from(q.subarray(12)))).toBe(true);
    expect([...res.subarray(-4)]).toEqual([127, 0, 0, 1]);
  });

  it('answers AAAA localhost with ::1 and names under localhost too', () => {
    const r = answerDnsQuery(dnsQuery(1, 'localhost', 28))!;
    expect([...r.subarray(-16)]).toEqual([...new Array<number>(15).fill(0), 1]);
    const sub = answerDnsQuery(dnsQuery(2, 'web.localhost', 1))!;
    expect([...sub.subarray(-4)]).toEqual([127, 0, 0, 1]);
  });

  it('answers NXDOMAIN for any other name', () => {
    for (const name of ['example.com', 'localhost.example.com', 'www.torproject.org']) {
      const r = answerDnsQuery(dnsQuery(7, name, 1))!;
      expect(r[3]! & 0x0f).toBe(3);
      expect([r[6], r[7]]).toEqual([0, 0]);
    }
  });

  it('never throws on random bytes, and answers only with well-formed headers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = answerDnsQuery(bytes);
        if (r !== undefined) {
          expect(r.length).toBeGreaterThanOrEqual(12);
          expect(r[0]).toBe(bytes[0]);
          expect(r[1]).toBe(bytes[1]);
          expect(r[2]! & 0x80).toBe(0x80);
        }
      }),
    );
  });

  it('answers random well-formed questions with the question echoed', () => {
    const label = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'), minLength: 1, maxLength: 63 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom(1, 28, 16, 255), (id, labels, qtype) => {
        const q = dnsQuery(id, labels.join('.'), qtype);
        const r = answerDnsQuery(q)!;
        expect(Buffer.from(r.subarray(12, q.length)).equals(Buffer.from(q.subarray(12)))).toBe(true);
      }),
    );
  });

  it('serves over UDP on 127.0.0.1', async () => {
    const { socket, port } = await startDnsServer(0);
    const client = createSocket('udp4');
    try {
      const reply = await new Promise<Buffer>((resolve) => {
        client.once('message', (m) => resolve(m));
        client.send(dnsQuery(42, 'localhost', 1), port, '127.0.0.1');
      });
      expect([...reply.subarray(-4)]).toEqual([127, 0, 0, 1]);
    } finally {
      client.close();
      socket.close();
    }
  });
});

describe('SOCKS5 client', () => {
  it('round-trips a connect request through a fake SOCKS server, and reports refusals', async () => {
    let seen: Buffer = Buffer.alloc(0);
    const server = createServer((sock) => {
      let stage = 0;
      sock.on('data', (d: Buffer) => {
        stage += 1;
        if (stage === 1) {
          sock.write(Buffer.from([5, 0]));
          return;
        }
        if (stage > 2) return; // the HTTP request, after the SOCKS exchange
        seen = d;
        const host = d.subarray(5, 5 + (d[4] ?? 0)).toString();
        if (host === 'refused.example') {
          sock.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
          return;
        }
        sock.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]));
        sock.end('HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const socksPort = (server.address() as AddressInfo).port;
    try {
      const res = await httpGetViaSocks({ socksPort, host: 'web.example', port: 80, path: '/' });
      expect(res.status).toBe(200);
      expect(Buffer.from(res.body).toString()).toBe('hello');
      expect([...seen.subarray(0, 5)]).toEqual([5, 1, 0, 3, 'web.example'.length]);
      const err = await httpGetViaSocks({ socksPort, host: 'refused.example', port: 80, path: '/' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SocksError);
      expect((err as SocksError).reply).toBe(5);
    } finally {
      server.close();
    }
  });
});

describe('HTTP response parsing', () => {
  it('splits status, headers and body, and checks content-length', () => {
    const ok = parseHttpResponse(new Uint8Array(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc')));
    expect(ok.status).toBe(404);
    expect(ok.headers['x-a']).toBe('b');
    expect(() => parseHttpResponse(new Uint8Array(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc')))).toThrow(TelescopeError);
  });

  it('gives a typed error or a result for random bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string().map((s) => new Uint8Array(Buffer.from(`HTTP/1.1 ${s}\r\n\r\n`)))), (bytes) => {
        try {
          parseHttpResponse(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });
});

describe('network plan and torrcs', () => {
  const auths = [0, 1, 2].map((i) => ({
    nickname: `test00${i}a`,
    fingerprint: String(i).repeat(40),
    v3ident: 'A'.repeat(40),
    orPort: 5000 + i,
    dirPort: 7000 + i,
  }));

  it('has 3 authorities, at least 5 other relays, 2 exits with different policies, a client and an onion service', () => {
    expect(NETWORK_PLAN.filter((n) => n.kind === 'authority')).toHaveLength(3);
    expect(NETWORK_PLAN.filter((n) => n.kind === 'relay').length).toBeGreaterThanOrEqual(5);
    const exits = NETWORK_PLAN.filter((n) => n.roles.includes('exit'));
    expect(exits).toHaveLength(2);
    expect(exits[0]?.exitPolicy).not.toEqual(exits[1]?.exitPolicy);
    for (const e of exits) expect(e.exitPolicy.at(-1)).toBe('accept *:*');
    expect(NETWORK_PLAN.filter((n) => n.kind === 'client')).toHaveLength(1);
    expect(NETWORK_PLAN.filter((n) => n.kind === 'onion-service')).toHaveLength(1);
  });

  it('writes the DirAuthority line in torrc syntax', () => {
    expect(dirAuthorityLine(auths[0]!)).toBe(`DirAuthority test000a orport=5000 no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:7000 ${'0'.repeat(40)}`);
  });

  it('keeps every tor on loopback and forces the flags on authorities', () => {
    const auth = relayTorrc({
      nickname: 'test000a', dataDir: '/d', authorities: auths, kind: 'authority', orPort: 5000, dirPort: 7000,
      exitPolicy: ['reject *:*'], isExit: false, resolvConf: '/r', bandwidthFile: '/bw', guards: ['1'.repeat(40)], exits: ['2'.repeat(40)], hsdirs: ['3'.repeat(40)],
    });
    for (const line of ['TestingTorNetwork 1', 'AssumeReachable 1', 'V3AuthVotingInterval 20', 'AuthDirVoteStableGuaranteeMinUptime 0', 'V3BandwidthsFile /bw',
      `TestingDirAuthVoteGuard $${'1'.repeat(40)}`, `TestingDirAuthVoteExit $${'2'.repeat(40)}`, `TestingDirAuthVoteHSDir $${'3'.repeat(40)}`,
      'ORPort 127.0.0.1:5000', 'DirPort 127.0.0.1:7000', 'OutboundBindAddress 127.0.0.1', 'ServerDNSResolvConfFile /r', 'Nickname test000a', 'RunAsDaemon 0']) {
      expect(auth.split('\n')).toContain(line);
    }
    expect(auth).toMatch(/^ContactInfo /m);
    const exit = relayTorrc({ nickname: 'test006e', dataDir: '/e', authorities: auths, kind: 'relay', orPort: 1, dirPort: 2, exitPolicy: ['accept *:*'], isExit: true, resolvConf: '/r' });
    expect(exit.split('\n')).toEqual(expect.arrayContaining(['ExitRelay 1', 'ExitPolicy accept *:*', 'ExitPolicyRejectPrivate 0', 'OutboundBindAddress 127.0.0.1']));
    expect(exit).not.toMatch(/AuthoritativeDirectory/);
    const client = clientTorrc({ nickname: 'test009c', dataDir: '/c', authorities: auths, socksPort: 9050 });
    expect(client.split('\n')).toEqual(expect.arrayContaining(['SocksPort 127.0.0.1:9050', 'ConfluxEnabled 0']));
    const hs = onionServiceTorrc({ nickname: 'test008h', dataDir: '/h', authorities: auths, hiddenServiceDir: '/h/hs', webPort: 8080, infoLog: true });
    expect(hs.split('\n')).toEqual(expect.arrayContaining(['HiddenServiceDir /h/hs', 'HiddenServicePort 80 127.0.0.1:8080', 'HiddenServiceVersion 3', 'SocksPort 0', 'Log info file /h/info.log']));
    // No address other than loopback appears anywhere.
    for (const text of [auth, exit, client, hs]) {
      for (const ip of text.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? []) expect(ip).toBe('127.0.0.1');
      expect(text.split('\n').filter((l) => l.startsWith('DirAuthority '))).toHaveLength(3);
    }
    expect(resolvConf(5353)).toBe('nameserver 127.0.0.1:5353\n');
  });

  it('writes a version 1.0.0 bandwidth file', () => {
    const text = bandwidthFile([{ fingerprint: 'F'.repeat(40), bandwidth: 1000 }], new Date(1_700_000_000_000));
    expect(text).toBe(`1700000000\nnode_id=$${'F'.repeat(40)} bw=1000\n`);
  });
});

describe('web content', () => {
  it('has the sizes the description promises and is deterministic', () => {
    const d = describeWebPaths();
    expect(d['/hello'].size).toBe(Buffer.byteLength(HELLO_TEXT));
    for (const [path, size] of Object.entries(BYTE_PATHS)) expect(d[path as keyof typeof BYTE_PATHS].size).toBe(size);
    expect(sha256Hex(bodyFor('/bytes/50k'))).toBe(d['/bytes/50k'].sha256);
    // Different paths get different streams, so a wrong body cannot pass for the right one.
    expect(sha256Hex(counterStream('/bytes/1m', 51_200))).not.toBe(d['/bytes/50k'].sha256);
  });

  it('is served over HTTP with content-length', async () => {
    const { server, port } = await startWebServer(0);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/bytes/50k`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('51200');
      expect(sha256Hex(new Uint8Array(await res.arrayBuffer()))).toBe(describeWebPaths()['/bytes/50k'].sha256);
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
      expect(await (await fetch(`http://127.0.0.1:${port}/hello`)).text()).toBe(HELLO_TEXT);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('process lifelines', () => {
  const projectRoot = fileURLToPath(new URL('../', import.meta.url));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const until = async (what: string, ok: () => boolean, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  const killAll = (pids: readonly (number | undefined)[]): void => {
    for (const pid of pids) {
      if (pid !== undefined && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  };
  const output = (child: ChildProcess): (() => string) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    return () => out;
  };

  it('the web server exits once its --owner-pid is gone (an owner killed with SIGKILL runs no handler)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-lifeline-'));
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
    const web = spawn(process.execPath, ['--import', 'tsx', 'testnet/web-server.ts', '--port', '0', '--port-file', join(dir, 'ports.json'), '--owner-pid', String(owner.pid)], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = output(web);
    const exited = new Promise<number | null>((r) => web.once('exit', (code) => r(code)));
    try {
      await until('the web server to listen', () => existsSync(join(dir, 'ports.json')), 30_000);
      owner.kill('SIGKILL');
      await until('the web server to exit', () => web.exitCode !== null, 30_000);
      expect(await exited).toBe(0);
      expect(out()).toMatch(new RegExp(`owner ${owner.pid} is gone`));
    } finally {
      killAll([owner.pid, web.pid]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // npm runs a script through `sh -c`, and when npm is killed the shell stays, waiting for us.
  it.each([
    ['directly', false, /our parent\) exited/],
    ['through sh -c', true, /our parent's parent\) exited/],
  ])('whenParentGone: a process started %s notices when its starter is SIGKILLed', async (_, viaShell, why) => {
    const dir = await mkdtemp(join(tmpdir(), 'telescope-lifeline-'));
    const child = join(dir, 'child.mjs');
    await writeFile(child, [
      `import { whenParentGone } from ${JSON.stringify(join(projectRoot, 'node-platform/process-watch.ts'))};`,
      "whenParentGone((why) => { console.log(`gone: ${why}`); process.exit(0); });",
      'console.log(`watching ${process.pid}`);',
      'setInterval(() => {}, 1000);',
    ].join('\n'));
    const childCommand = [process.execPath, '--import', 'tsx', child];
    const command = viaShell ? ['sh', '-c', childCommand.join(' ')] : childCommand;
    // The starter: spawns the command and waits, like npm.
    const starter = spawn(process.execPath, ['-e', "require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' }); setInterval(() => {}, 1000);", ...command], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = output(starter);
    let childPid: number | undefined;
    try {
      await until('the child to watch', () => /watching (\d+)/.test(out()), 30_000);
      childPid = Number(/watching (\d+)/.exec(out())![1]);
      starter.kill('SIGKILL');
      await until('the child to notice', () => /gone: /.test(out()), 15_000);
      expect(out()).toMatch(why);
      await until('the child to exit', () => !isProcessAlive(childPid!), 15_000);
    } finally {
      killAll([starter.pid, childPid]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
