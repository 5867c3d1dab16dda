import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, mkdirSync, rmSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '../../shared/bytes/index.ts';
import type { TorAddress } from '../../shared/cells/index.ts';
import {
  CertsCell, CertType, ChanCmd, CellDecoder, encodeCell, type ChannelCell, AuthChallenge, Netinfo, Versions,
} from '../../shared/cells/index.ts';
import { verifyResponderCerts, parseX509, x509RsaKey } from '../../shared/crypto/index.ts';
import { parseExitPolicy } from '../../shared/policy/index.ts';
import { RelayKeys } from './keys.ts';
import { makeTlsCredentials, tlsServerOptions } from './tls-cert.ts';
import { LinkCertificates, authIdentityDigest, buildAuthenticate, exportAuthTlsSecrets } from './certs-cell.ts';
import { buildServerDescriptor } from './descriptor.ts';

/**
 * The identity layer against tor 0.4.9 itself (skipped where tor is not installed): a private,
 * single-authority tor network on loopback judges our descriptor, our initiator CERTS +
 * AUTHENTICATE, and a tor client judges our responder CERTS over node:tls. Every torrc names only
 * 127.0.0.1 authorities; nothing leaves the machine.
 */

const TOR = '/usr/bin/tor';
const GENCERT = '/usr/bin/tor-gencert';
const haveTor = existsSync(TOR) && existsSync(GENCERT);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function logLine(file: string, pattern: RegExp): string | undefined {
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').split('\n').find((l) => pattern.test(l));
}

interface Authority {
  dir: string;
  orPort: number;
  dirPort: number;
  dirAuthorityLine: string;
  proc: ChildProcess;
}

async function startAuthority(): Promise<Authority> {
  const dir = mkdtempSync(join(tmpdir(), 'telescope-tor-auth-'));
  chmodSync(dir, 0o700);
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  const [orPort, dirPort] = [await freePort(), await freePort()];
  execFileSync(GENCERT, ['--create-identity-key', '-m', '12', '-a', `127.0.0.1:${dirPort}`, '-i', join(dir, 'keys/authority_identity_key'), '-s', join(dir, 'keys/authority_signing_key'), '-c', join(dir, 'keys/authority_certificate'), '--passphrase-fd', '0'], { input: '\n', stdio: ['pipe', 'ignore', 'ignore'] });
  const v3ident = /^fingerprint ([0-9A-F]{40})$/m.exec(readFileSync(join(dir, 'keys/authority_certificate'), 'utf8'))![1]!;
  const base = [
    'TestingTorNetwork 1', `DataDirectory ${dir}`, 'Nickname telescopeauth', `Log info file ${join(dir, 'info.log')}`, 'SafeLogging 0', 'Sandbox 0',
    'Address 127.0.0.1', `ORPort 127.0.0.1:${orPort}`, `DirPort 127.0.0.1:${dirPort}`, 'SocksPort 0', 'AssumeReachable 1', 'ExitRelay 0',
    'AuthoritativeDirectory 1', 'V3AuthoritativeDirectory 1', 'OutboundBindAddress 127.0.0.1',
  ];
  const torrc = join(dir, 'torrc');
  // First a dummy authority line, to learn our own fingerprint offline.
  writeFileSync(torrc, [...base, `DirAuthority telescopeauth orport=${orPort} no-v2 v3ident=${v3ident} 127.0.0.1:${dirPort} 6814FE8EB1ACEE6A2D94EA5E08D55814096092EC`].join('\n') + '\n');
  execFileSync(TOR, ['-f', torrc, '--list-fingerprint'], { stdio: 'ignore', timeout: 30_000 });
  const fp = readFileSync(join(dir, 'fingerprint'), 'utf8').trim().split(' ')[1]!;
  const dirAuthorityLine = `DirAuthority telescopeauth orport=${orPort} no-v2 v3ident=${v3ident} 127.0.0.1:${dirPort} ${fp}`;
  writeFileSync(torrc, [...base, dirAuthorityLine].join('\n') + '\n');
  const proc = spawn(TOR, ['-f', torrc], { stdio: 'ignore' });
  await waitFor('the authority\'s DirPort', async () => {
    try {
      return (await fetch(`http://127.0.0.1:${dirPort}/tor/server/authority`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  }, 30_000);
  return { dir, orPort, dirPort, dirAuthorityLine, proc };
}

/** Connect to a tor relay as an authenticating relay; returns once our cells are sent. */
async function authenticateTo(port: number, keys: RelayKeys, exporterContext: 'cid' | 'cid-ed'): Promise<tls.TLSSocket> {
  const now = new Date();
  const link = new LinkCertificates(keys, makeTlsCredentials(keys.identity, { now, linkKeyBits: 1024 }));
  const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', resolve);
    sock.once('error', reject);
  });
  const peerCert = new Uint8Array(sock.getPeerX509Certificate()!.raw);
  const versions = encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body: new Versions([4, 5]).encode() }, 0);
  sock.write(versions);
  const decoder = new CellDecoder(0);
  const received: ChannelCell[] = [];
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      try {
        let cells = decoder.push(new Uint8Array(d));
        if (decoder.linkVersion === 0 && cells[0]) {
          decoder.linkVersion = Versions.decode(cells[0].body).bestCommon([4, 5])!;
          cells = [...cells, ...decoder.push(new Uint8Array(0))];
        }
        received.push(...cells);
        if (received.some((c) => c.command === ChanCmd.AUTH_CHALLENGE)) resolve();
      } catch (e) {
        reject(e);
      }
    });
    sock.once('error', reject);
  });
  const v = decoder.linkVersion;
  const upToChallenge = received.slice(0, received.findIndex((c) => c.command === ChanCmd.AUTH_CHALLENGE) + 1);
  const slog = sha256(concatBytes(...upToChallenge.map((c, i) => encodeCell(c, i === 0 ? 0 : v))));
  AuthChallenge.decode(upToChallenge.at(-1)!.body);
  const theirCerts = CertsCell.decode(received.find((c) => c.command === ChanCmd.CERTS)!.body);
  const peer = verifyResponderCerts({ certs: theirCerts, now, peerTlsCertificate: peerCert });
  const ourCerts = encodeCell({ circId: 0, command: ChanCmd.CERTS, body: link.initiatorCerts(now).encode() }, v);
  const cid = authIdentityDigest(keys.identity.publicDer);
  const auth = buildAuthenticate(
    {
      cid,
      sid: authIdentityDigest(x509RsaKey(parseX509(theirCerts.ofType(CertType.RSA_ID_X509)[0]!.body)).der),
      cidEd: keys.ed25519Identity,
      sidEd: peer.ed25519Identity,
      slog,
      clog: sha256(concatBytes(versions, ourCerts)),
      scert: sha256(peerCert),
      tlsSecrets: exportAuthTlsSecrets(sock, exporterContext === 'cid' ? cid : keys.ed25519Identity),
    },
    link.authKey(now).key,
  );
  const loopback: TorAddress = { type: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 1) };
  sock.write(concatBytes(
    ourCerts,
    encodeCell({ circId: 0, command: ChanCmd.AUTHENTICATE, body: auth.encode() }, v),
    encodeCell({ circId: 0, command: ChanCmd.NETINFO, body: new Netinfo(Math.floor(Date.now() / 1000), loopback, [loopback]).encode() }, v),
  ));
  sock.on('error', () => undefined);
  return sock;
}

describe.skipIf(!haveTor)('tor 0.4.9 accepts the relay\'s identity', () => {
  let auth: Authority;
  const cleanups: (() => void)[] = [];
  beforeAll(async () => {
    auth = await startAuthority();
    cleanups.push(() => auth.proc.kill('SIGTERM'), () => rmSync(auth.dir, { recursive: true, force: true }));
  }, 60_000);
  afterAll(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });

  it('an authority accepts our descriptor, and rejects it without the TAP key', async () => {
    const keys = RelayKeys.generate();
    const input = {
      nickname: 'telescopeinterop',
      address: '127.0.0.1',
      orPort: 9,
      published: new Date(),
      uptimeSeconds: 5,
      bandwidth: { average: 1 << 20, burst: 1 << 21, observed: 1000 },
      exitPolicy: parseExitPolicy(['reject *:25', 'accept *:*'], { syntax: 'descriptor' }),
      contact: 'interop test <nobody@localhost>',
      tunnelledDirServer: true,
    };
    const ok = await fetch(`http://127.0.0.1:${auth.dirPort}/tor/`, { method: 'POST', body: buildServerDescriptor(keys, input).text });
    expect(ok.status).toBe(200);
    const noTap = await fetch(`http://127.0.0.1:${auth.dirPort}/tor/`, { method: 'POST', body: buildServerDescriptor(RelayKeys.generate(), { ...input, includeTapOnionKey: false }).text });
    expect(noTap.status).toBe(400);
    expect(noTap.statusText).toMatch(/TAP/);
  }, 30_000);

  it('a relay accepts our initiator CERTS and AUTHENTICATE (TLS exporter context: CID)', async () => {
    const keys = RelayKeys.generate();
    const sock = await authenticateTo(auth.orPort, keys, 'cid');
    const log = join(auth.dir, 'info.log');
    const line = await waitFor('tor\'s verdict', () => logLine(log, new RegExp(`Got good NETINFO cell .*RSA_ID=${keys.fingerprint}.*now open`)) ?? logLine(log, /bad AUTHENTICATE/), 15_000);
    expect(line).toMatch(/now open/);
    expect(logLine(log, new RegExp(`Set identity digest for OR connection .*: ${keys.fingerprint} `))).toBeDefined();
    sock.destroy();
  }, 30_000);

  it('... and refuses AUTHENTICATE with the exporter context tor-spec names (CID_ED)', async () => {
    const keys = RelayKeys.generate();
    const sock = await authenticateTo(auth.orPort, keys, 'cid-ed');
    const line = await waitFor('tor\'s verdict', () => logLine(join(auth.dir, 'info.log'), /Received a bad AUTHENTICATE cell.*not as expected/), 15_000);
    expect(line).toBeDefined();
    sock.destroy();
  }, 30_000);

  it('a tor client authenticates our ORPort by its responder CERTS (RSA and Ed25519)', async () => {
    const keys = RelayKeys.generate();
    const creds = makeTlsCredentials(keys.identity, { linkKeyBits: 2048 });
    const link = new LinkCertificates(keys, creds);
    const server = tls.createServer(tlsServerOptions(creds), (s) => {
      const decoder = new CellDecoder(0);
      s.on('data', (d: Buffer) => {
        const cells = decoder.push(new Uint8Array(d));
        if (decoder.linkVersion !== 0 || !cells[0]) return;
        const v = Versions.decode(cells[0].body).bestCommon([4, 5])!;
        decoder.linkVersion = v;
        const loopback: TorAddress = { type: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 1) };
        s.write(concatBytes(
          encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body: new Versions([4, 5]).encode() }, 0),
          encodeCell({ circId: 0, command: ChanCmd.CERTS, body: link.responderCerts(new Date()).encode() }, v),
          encodeCell({ circId: 0, command: ChanCmd.AUTH_CHALLENGE, body: new AuthChallenge(new Uint8Array(32).fill(1), [3]).encode() }, v),
          encodeCell({ circId: 0, command: ChanCmd.NETINFO, body: new Netinfo(Math.floor(Date.now() / 1000), loopback, [loopback]).encode() }, v),
        ));
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'telescope-tor-client-'));
    chmodSync(dir, 0o700);
    const torrc = join(dir, 'torrc');
    writeFileSync(torrc, [`DataDirectory ${dir}`, 'SocksPort 0', 'UseBridges 1', `Bridge 127.0.0.1:${port} ${keys.fingerprint}`, auth.dirAuthorityLine, `Log info file ${join(dir, 'info.log')}`, 'SafeLogging 0'].join('\n') + '\n');
    const client = spawn(TOR, ['-f', torrc], { stdio: 'ignore' });
    cleanups.push(() => client.kill('SIGTERM'), () => rmSync(dir, { recursive: true, force: true }));
    const line = await waitFor('the tor client\'s verdict', () => logLine(join(dir, 'info.log'), /Got some good certificates|bad CERTS cell/), 20_000);
    expect(line).toMatch(new RegExp(`Got some good certificates .*RSA_ID=${keys.fingerprint}: Authenticated it with RSA and Ed25519`));
  }, 40_000);
});
