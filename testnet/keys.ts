/**
 * Keys of the network's tors, made before any tor runs so the torrcs can name them: each
 * authority's v3 identity, signing key and certificate (tor-gencert), and every relay's RSA and
 * Ed25519 identity and onion keys (tor --list-fingerprint, which creates them and exits without
 * touching the network).
 */
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestnetError } from './errors.ts';
import { isRelay, type PlacedNode } from './plan.ts';
import { findBinary } from './processes.ts';
import type { AuthorityKeys } from './torrc.ts';

const execFileP = promisify(execFile);

/** A tor's identity as the network knows it; empty strings where the node has none. */
export interface NodeKeys {
  /** Hex RSA identity fingerprint, upper case (relays). */
  readonly fingerprint: string;
  /** Ed25519 master identity key, standard base64 with padding (relays). */
  readonly ed25519: string;
  /** Hex SHA-1 of the v3 authority identity key (authorities). */
  readonly v3ident: string;
}

/** A node of the plan with its keys. */
export type KeyedNode = PlacedNode & NodeKeys;

export const padB64 = (b64: string): string => Buffer.from(b64, 'base64').toString('base64');

/** What other tors' torrcs need to know of an authority. */
export function authorityKeys(a: KeyedNode): AuthorityKeys {
  return { nickname: a.plan.nickname, fingerprint: a.fingerprint, orPort: a.orPort, dirPort: a.dirPort, v3ident: a.v3ident };
}

/** The ntor public key stored after the 32-byte header and the 32-byte secret in the key file. */
export function ntorPublicFromKeyFile(file: string): string {
  const raw = readFileSync(file);
  if (raw.length !== 96 || !raw.subarray(0, 21).toString('latin1').startsWith('== c25519v1: onion ==')) {
    throw new TestnetError(`${file}: not a tor curve25519 key file (${raw.length} bytes)`);
  }
  const secret = raw.subarray(32, 64);
  const pub = raw.subarray(64, 96);
  // Check the stored public half against the secret, so a format change cannot go unnoticed.
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]);
  const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
    .export({ format: 'der', type: 'spki' })
    .subarray(-32);
  if (!derived.equals(pub)) throw new TestnetError(`${file}: public key does not match the secret key`);
  return pub.toString('base64');
}

/** v3 authority identity + signing key and certificate; returns the identity's fingerprint. */
async function createAuthorityCertificate(node: PlacedNode): Promise<string> {
  // Empty passphrase on stdin.
  await new Promise<void>((res, rej) => {
    const p = spawn(
      findBinary('tor-gencert'),
      [
        '--create-identity-key',
        '-m', '12',
        '-a', `127.0.0.1:${node.dirPort}`,
        '-i', join(node.dataDir, 'keys', 'authority_identity_key'),
        '-s', join(node.dataDir, 'keys', 'authority_signing_key'),
        '-c', join(node.dataDir, 'keys', 'authority_certificate'),
        '--passphrase-fd', '0',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.stdout.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', rej);
    p.on('exit', (code) => (code === 0 ? res() : rej(new TestnetError(`tor-gencert for ${node.plan.nickname} exited ${code}: ${err.trim()}`))));
    p.stdin.end('\n');
  });
  const cert = await readFile(join(node.dataDir, 'keys', 'authority_certificate'), 'utf8');
  const m = /^fingerprint ([0-9A-F]{40})$/m.exec(cert);
  if (!m?.[1]) throw new TestnetError(`${node.plan.nickname}: no fingerprint line in authority_certificate`);
  return m[1];
}

/** The relay identity (RSA + Ed25519) and onion keys, made by tor itself. */
async function createRelayIdentity(node: PlacedNode, emptyTorrc: string): Promise<{ fingerprint: string; ed25519: string }> {
  // tor creates the keys, then exits without networking. The dummy authority keeps it from even
  // configuring the public ones.
  try {
    await execFileP(findBinary('tor'), [
      '--defaults-torrc', emptyTorrc,
      '-f', emptyTorrc,
      '--list-fingerprint',
      '--DataDirectory', node.dataDir,
      '--Nickname', node.plan.nickname,
      '--ORPort', '127.0.0.1:1',
      '--DirAuthority', `dummy 127.0.0.1:1 ${'0'.repeat(40)}`,
      '--Log', 'err stderr',
    ]);
  } catch (err) {
    throw new TestnetError(`tor --list-fingerprint for ${node.plan.nickname} failed: ${(err as Error).message}`, { cause: err });
  }
  const fpr = /^\S+ ([0-9A-F]{40})\s*$/m.exec(await readFile(join(node.dataDir, 'fingerprint'), 'utf8'));
  if (!fpr?.[1]) throw new TestnetError(`${node.plan.nickname}: unreadable DataDirectory/fingerprint`);
  const ed = /^\S+ ([A-Za-z0-9+/]{43})\s*$/m.exec(await readFile(join(node.dataDir, 'fingerprint-ed25519'), 'utf8'));
  if (!ed?.[1]) throw new TestnetError(`${node.plan.nickname}: unreadable DataDirectory/fingerprint-ed25519`);
  return { fingerprint: fpr[1], ed25519: padB64(ed[1]) };
}

/** Create `node`'s DataDirectory and whatever keys its kind needs (the client and onion service need none yet). */
export async function generateKeys(node: PlacedNode, emptyTorrc: string): Promise<KeyedNode> {
  await mkdir(join(node.dataDir, 'keys'), { recursive: true, mode: 0o700 });
  await chmod(node.dataDir, 0o700);
  const v3ident = node.plan.kind === 'authority' ? await createAuthorityCertificate(node) : '';
  const identity = isRelay(node.plan) ? await createRelayIdentity(node, emptyTorrc) : { fingerprint: '', ed25519: '' };
  return { ...node, ...identity, v3ident };
}
