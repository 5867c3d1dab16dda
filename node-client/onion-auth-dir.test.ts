import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { toBase32 } from '../shared/bytes/index.ts';
import { ConfigError } from '../shared/config/index.ts';
import { encodeOnionAddress } from '../shared/onion/index.ts';
import { readClientAuthKeys } from './onion-auth-dir.ts';

describe('ClientOnionAuthDir', () => {
  it('reads a client\'s private keys by onion address, and a malformed file is a ConfigError', async () => {
    const key = new Uint8Array(32).fill(7);
    const auth = await mkdtemp(join(tmpdir(), 'telescope-auth-'));
    const host = encodeOnionAddress(ed25519.getPublicKey(new Uint8Array(32).fill(1))).replace('.onion', '');
    await writeFile(join(auth, 'x.auth_private'), `${host}:descriptor:x25519:${toBase32(key)}\n`);
    expect((await readClientAuthKeys(auth)).get(`${host}.onion`)).toEqual(key);
    await writeFile(join(auth, 'y.auth_private'), 'nonsense');
    await expect(readClientAuthKeys(auth)).rejects.toBeInstanceOf(ConfigError);
  });

  it('a folder that does not exist is a ConfigError naming it', async () => {
    const missing = join(await mkdtemp(join(tmpdir(), 'telescope-auth-')), 'nowhere');
    await expect(readClientAuthKeys(missing)).rejects.toThrow(`ClientOnionAuthDir ${missing} does not exist`);
  });
});
