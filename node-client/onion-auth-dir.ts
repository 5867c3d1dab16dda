import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../shared/config/index.ts';
import { parseClientAuthLine } from '../shared/onion/index.ts';

/**
 * A client's private keys from ClientOnionAuthDir/*.auth_private, as tor reads them:
 * "<56-character address>:descriptor:x25519:<base32 private key>". Keyed by onion hostname.
 */
export async function readClientAuthKeys(folder: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => n.endsWith('.auth_private')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`ClientOnionAuthDir ${folder} does not exist`);
    throw e;
  }
  for (const name of names) {
    const { hostname, secretKey } = parseClientAuthLine(await readFile(join(folder, name), 'utf8'), join(folder, name));
    out.set(hostname, secretKey);
  }
  return out;
}
