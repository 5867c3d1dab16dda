import { mkdir, readFile, rename, chmod, writeFile, utimes, stat } from 'node:fs/promises';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { concatBytes, equalBytes } from '../shared/bytes/index.ts';
import { ProtocolError, UsageError } from '../shared/util/index.ts';

/**
 * Key files in tor's own formats, so a relay's DataDirectory/keys/ or an onion service's
 * HiddenServiceDir can move between tor and Telescope (and tor's tools read ours). Which files a
 * host keeps is the host's (the relay's keys, the service's identity); this is how they are written.
 *
 * A tagged file is a 32-byte header "== TYPE: TAG ==" padded with NUL bytes, then the body; RSA
 * keys are PEM "RSA PRIVATE KEY" (PKCS#1), as tor writes them. Files are written atomically
 * (temporary file, then rename) with mode 0600 in a 0700 directory.
 */

const HEADER_LEN = 32;

/** A tagged key file: header "== type: tag ==" NUL-padded to 32 bytes, then the body. */
export function encodeTagged(type: string, tag: string, body: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(`== ${type}: ${tag} ==`);
  if (header.length > HEADER_LEN) throw new UsageError(`key file header "${type}: ${tag}" is too long`);
  const padded = new Uint8Array(HEADER_LEN);
  padded.set(header);
  return concatBytes(padded, body);
}

/** The body of a tagged key file, checking its type and tag (and body length, when given). */
export function decodeTagged(bytes: Uint8Array, file: string, type: string, tag: string, bodyLength?: number): Uint8Array {
  if (bytes.length < HEADER_LEN) throw new ProtocolError(`key file ${file}`, `too short (${bytes.length} bytes)`);
  const header = bytes.subarray(0, HEADER_LEN);
  const end = header.indexOf(0);
  const text = String.fromCharCode(...header.subarray(0, end === -1 ? HEADER_LEN : end));
  if (end !== -1 && header.subarray(end).some((b) => b !== 0)) throw new ProtocolError(`key file ${file}`, 'header padding is not all NUL');
  const expected = `== ${type}: ${tag} ==`;
  if (text !== expected) throw new ProtocolError(`key file ${file}`, `header is "${text.replace(/[^\x20-\x7e]/g, '?')}", expected "${expected}"`);
  const body = bytes.slice(HEADER_LEN);
  if (bodyLength !== undefined && body.length !== bodyLength) throw new ProtocolError(`key file ${file}`, `body is ${body.length} bytes, expected ${bodyLength}`);
  return body;
}

/** An RSA private key from a PEM file (PKCS#1 "RSA PRIVATE KEY", as tor writes, or PKCS#8). */
export function decodeRsaPrivateKeyPem(pem: Uint8Array, file: string): KeyObject {
  try {
    const key = createPrivateKey({ key: Buffer.from(pem), format: 'pem' });
    if (key.asymmetricKeyType !== 'rsa') throw new ProtocolError(`key file ${file}`, `holds a ${key.asymmetricKeyType} key, not RSA`);
    return key;
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(`key file ${file}`, `not a PEM RSA private key: ${(e as Error).message}`, undefined, { cause: e });
  }
}

export function encodeRsaPrivateKeyPem(key: KeyObject): Uint8Array {
  return new TextEncoder().encode(key.export({ type: 'pkcs1', format: 'pem' }) as string);
}

/** The keys folder of a DataDirectory (or another folder of key files), with atomic 0600 writes. */
export class KeyDirectory {
  readonly path: string;
  /** `subfolder` '' means the files sit in `directory` itself (a HiddenServiceDir). */
  constructor(directory: string, subfolder = 'keys') {
    this.path = subfolder ? join(directory, subfolder) : directory;
  }

  async ensure(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
    await chmod(this.path, 0o700);
  }

  /** The file's bytes and modification time, or undefined if it does not exist. */
  async read(name: string): Promise<{ bytes: Uint8Array; mtime: Date } | undefined> {
    const p = join(this.path, name);
    try {
      const [bytes, st] = await Promise.all([readFile(p), stat(p)]);
      return { bytes: new Uint8Array(bytes), mtime: st.mtime };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Write atomically with mode 0600; `time` becomes the file's modification time. */
  async write(name: string, bytes: Uint8Array, time: Date): Promise<void> {
    const p = join(this.path, name);
    const tmp = `${p}.tmp-${process.pid}`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await utimes(tmp, time, time);
    await rename(tmp, p);
  }

  /** Write only if the content differs (keeps the modification time of unchanged files). */
  async writeIfChanged(name: string, bytes: Uint8Array, time: Date): Promise<void> {
    const old = await this.read(name);
    if (old && equalBytes(old.bytes, bytes)) return;
    await this.write(name, bytes, time);
  }
}
