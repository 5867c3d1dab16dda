import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestnetDescription } from '../testnet/index.ts';
import { ownedByThisProcess, stopChild } from '../testnet/stop-child.ts';
import { TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS } from '../testnet/relay-process.ts';
import { sharedTestnet } from './shared-testnet.ts';

/**
 * The commands with no DirAuthority line use the built-in network. Here the built-in list is
 * replaced (TELESCOPE_BUILTIN_NETWORK, the documented testing aid) by the private network or by
 * closed loopback ports, so the code path is the product's and no public address is ever dialled:
 * - the client's first directory contact is a fallback directory's ORPort (CREATE_FAST and
 *   BEGIN_DIR to tor 0.4.9 relays), and it then fetches a page through its SOCKS port;
 * - with nothing reachable, the client, the onion service and the relay's directory fetch say
 *   "cannot reach the Tor network" instead of hanging;
 * - a public relay fetches from the authorities and publishes its descriptor to them; a bridge
 *   starts with the fallbacks and uploads nothing. The authorities' DirPorts in that file are a recorder on loopback (their ORPorts and
 *   identities are the real ones), so the test relay never joins the shared network's consensus.
 */

let desc: TestnetDescription;
let dir: string;

const freePort = (): Promise<number> => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code once the process ends. */
  readonly exited: Promise<number | null>;
}

/** `telescope COMMAND -f torrc` with the built-in network replaced by `builtin` (a file). */
function telescope(command: string, torrc: string, builtin: string): Running {
  const child = spawn(process.execPath, ['bin/telescope.js', command, '-f', torrc], {
    env: { ...ownedByThisProcess(), TELESCOPE_BUILTIN_NETWORK: builtin },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/** Waits until the output matches (or the process ends, or the time runs out: the caller's expect says which). */
async function waitFor(r: Running, pattern: RegExp, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(r.output()) && r.child.exitCode === null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
}

beforeAll(async () => {
  desc = sharedTestnet();
  dir = await mkdtemp(join(tmpdir(), 'telescope-builtin-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** tor's FallbackDir line for a relay of the private network. */
const fallbackLine = (r: TestnetDescription['relays'][number]): string => `FallbackDir ${r.address} orport=${r.orPort} id=${r.fingerprint}`;

describe('the client on the built-in network', () => {
  it('bootstraps through a fallback directory\'s ORPort first, then fetches a page through SOCKS', async () => {
    const fallbacks = desc.relays.filter((r) => !r.roles.includes('authority') && r.flags.includes('V2Dir')).slice(0, 3);
    expect(fallbacks.length).toBeGreaterThan(0);
    const builtin = join(dir, 'loopback-network');
    await writeFile(builtin, [...desc.authorities.map((a) => a.dirAuthorityLine), ...fallbacks.map(fallbackLine), ''].join('\n'));
    const port = await freePort();
    const torrc = join(dir, 'client.torrc');
    // No DirAuthority line: the built-in network. (TestingTorNetwork would need DirAuthority lines.)
    await writeFile(torrc, [`SocksPort 127.0.0.1:${port}`, `DataDirectory ${dir}/client`, 'EnforceDistinctSubnets 0', 'Log notice stdout', ''].join('\n'));
    const client = telescope('client', torrc, builtin);
    try {
      await waitFor(client, /Bootstrapped 100% \(done\)/);
      const out = client.output();
      expect(out, out).toMatch(/Bootstrapped 100% \(done\): Done/);
      const contact = /first directory contact: (fallback directory|directory authority) \S+ at 127\.0\.0\.1:(\d+)/.exec(out);
      expect(contact, out).not.toBeNull();
      expect(contact![1]).toBe('fallback directory');
      expect(fallbacks.map((f) => f.orPort)).toContain(Number(contact![2]));
      expect(desc.authorities.map((a) => a.orPort)).not.toContain(Number(contact![2]));
      const body = await new Promise<string>((resolve, reject) => execFile('curl', ['-sS', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${port}`, `http://127.0.0.1:${desc.web.port}/hello`], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
      expect(body).toBe('Hello from the Telescope test network\n');
    } finally {
      await stopChild(client.child);
    }
  }, 150_000);
});

describe('without a reachable network', () => {
  let unreachable: string;

  beforeAll(async () => {
    // The private network's identities at ports nothing listens on (loopback only). One
    // authority: tor's schedule asks it 6 s in and spaces further authorities 6 to 18 s apart, so
    // with one the first contact has tried everything within seconds (with more, the 30 s bound).
    const ports = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    const a = desc.authorities[0]!;
    const lines = [
      `DirAuthority ${a.nickname} orport=${ports[0]} v3ident=${a.v3ident} 127.0.0.1:${ports[0]} ${a.fingerprint}`,
      ...desc.relays.slice(3, 7).map((r, i) => `FallbackDir 127.0.0.1 orport=${ports[1 + i]} id=${r.fingerprint}`),
    ];
    unreachable = join(dir, 'unreachable-network');
    await writeFile(unreachable, `${lines.join('\n')}\n`);
  });

  it('the client fails with "cannot reach the Tor network", counting what it tried', async () => {
    const torrc = join(dir, 'lost-client.torrc');
    await writeFile(torrc, ['SocksPort 0', `DataDirectory ${dir}/lost-client`, 'Log notice stdout', ''].join('\n'));
    const client = telescope('client', torrc, unreachable);
    try {
      const code = await client.exited;
      expect(code, client.output()).toBe(1);
      expect(client.output()).toMatch(/bootstrap failed: cannot reach the Tor network: tried 4 of 4 fallback directories and 1 of 1 directory authority; every one failed \(5 connection failed\)/);
    } finally {
      await stopChild(client.child);
    }
  }, 90_000);

  it('the onion service says the same', async () => {
    const torrc = join(dir, 'lost-service.torrc');
    await writeFile(torrc, [`DataDirectory ${dir}/lost-service`, `HiddenServiceDir ${dir}/lost-service/hs`, 'HiddenServicePort 80 127.0.0.1:9', 'Log notice stdout', ''].join('\n'));
    const service = telescope('onion-service', torrc, unreachable);
    try {
      const code = await service.exited;
      expect(code, service.output()).toBe(1);
      expect(service.output()).toMatch(/bootstrap failed: cannot reach the Tor network: tried 4 of 4 fallback directories/);
    } finally {
      await stopChild(service.child);
    }
  }, 90_000);

  it('the relay keeps running and says why it has no directory', async () => {
    const torrc = join(dir, 'lost-relay.torrc');
    await writeFile(torrc, ['Nickname lostrelay', 'Address 127.0.0.1', 'ORPort 127.0.0.1:auto', `DataDirectory ${dir}/lost-relay`, 'PublishServerDescriptor 0', 'Log notice stdout', ''].join('\n'));
    const relay = telescope('relay', torrc, unreachable);
    try {
      await waitFor(relay, /directory bootstrap failed/);
      // A public relay asks the authorities alone (tor's rule for relays that serve directories).
      expect(relay.output()).toMatch(/directory bootstrap failed: cannot reach the Tor network: tried 1 of 1 directory authority; every one failed \(1 connection failed\)/);
      expect(relay.child.exitCode).toBeNull();
    } finally {
      await stopChild(relay.child);
    }
  }, 90_000);
});

describe('the relay on the built-in network', () => {
  let recorder: HttpServer;
  const uploads: { port: number; fingerprint: string }[] = [];
  let builtin: string;

  beforeAll(async () => {
    // One recorder per authority: it answers an upload as an authority does (200) and notes it.
    recorder = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/tor/') {
          uploads.push({ port: req.socket.localPort ?? 0, fingerprint: (/^fingerprint ([0-9A-F ]+)$/m.exec(body)?.[1] ?? '').replace(/ /g, '') });
          res.writeHead(200, 'OK').end();
        } else res.writeHead(404, 'Not found').end();
      });
    });
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', () => r()));
    const dirPort = (recorder.address() as { port: number }).port;
    // The real authorities (identities, ORPorts) with the recorder as their DirPort; real relays as fallbacks.
    const fallbacks = desc.relays.filter((r) => !r.roles.includes('authority')).slice(0, 3);
    builtin = join(dir, 'recorded-network');
    await writeFile(builtin, [
      ...desc.authorities.map((a) => `DirAuthority ${a.nickname} orport=${a.orPort} v3ident=${a.v3ident} 127.0.0.1:${dirPort} ${a.fingerprint}`),
      ...fallbacks.map(fallbackLine),
      '',
    ].join('\n'));
  });

  afterAll(async () => {
    await new Promise<void>((r) => (recorder ? recorder.close(() => r()) : r()));
  });

  const relayTorrc = async (name: string, extra: string[]): Promise<string> => {
    const torrc = join(dir, `${name}.torrc`);
    // tor 0.4.9's consensus requires relay protocols Telescope lacks: named, so the relay runs.
    await writeFile(torrc, [`Nickname ${name}`, 'Address 127.0.0.1', 'ORPort 127.0.0.1:auto', `DataDirectory ${dir}/${name}`, 'ContactInfo telescope e2e', 'Log notice stdout', TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS, ...extra, ''].join('\n'));
    return torrc;
  };

  it('a public relay fetches the consensus from an authority (as tor\'s do) and uploads its descriptor to every authority', async () => {
    const relay = telescope('relay', await relayTorrc('builtinrelay', ['ExitRelay 0']), builtin);
    try {
      await waitFor(relay, new RegExp(`(uploaded our descriptor to authority [^\\n]*\\n[^]*){${desc.authorities.length}}`));
      await waitFor(relay, /first directory contact/);
      const out = relay.output();
      const fingerprint = /Your relay's fingerprint is 'builtinrelay ([0-9A-F]{40})'/.exec(out)?.[1];
      expect(fingerprint, out).toBeDefined();
      for (const a of desc.authorities) expect(out).toMatch(new RegExp(`uploaded our descriptor to authority ${a.nickname}: 200`));
      expect(uploads.filter((u) => u.fingerprint === fingerprint)).toHaveLength(desc.authorities.length);
      const contact = /first directory contact: directory authority (\S+) at 127\.0\.0\.1:(\d+)/.exec(out);
      expect(contact, out).not.toBeNull();
      expect(desc.authorities.map((a) => a.orPort)).toContain(Number(contact![2]));
      expect(out).not.toMatch(/directory bootstrap failed/);
    } finally {
      await stopChild(relay.child);
    }
  }, 120_000);

  it('a bridge (BridgeRelay 1) starts with the fallbacks, like a client, and uploads nothing', async () => {
    const bridge = telescope('relay', await relayTorrc('builtinbridge', ['BridgeRelay 1']), builtin);
    try {
      // By the time its directory is being fetched, a relay that publishes has sent its uploads
      // (they start first); a bridge has sent none.
      await waitFor(bridge, /first directory contact/);
      const out = bridge.output();
      const fingerprint = /Your relay's fingerprint is 'builtinbridge ([0-9A-F]{40})'/.exec(out)?.[1];
      expect(fingerprint, out).toBeDefined();
      expect(out).toMatch(/first directory contact: fallback directory \S+ at 127\.0\.0\.1:\d+/);
      expect(uploads.filter((u) => u.fingerprint === fingerprint)).toEqual([]);
      expect(out).not.toMatch(/uploaded our descriptor|uploading our descriptor/);
    } finally {
      await stopChild(bridge.child);
    }
  }, 120_000);
});
