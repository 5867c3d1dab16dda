import { readdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { equalBytes } from '../shared/bytes/index.ts';
import { ProtocolError } from '../shared/util/index.ts';
import { parseDescriptorAuthKey, encodeOnionAddress, expandSecretKey, publicKeyFromExpanded } from '../shared/onion/index.ts';
import type { OnionServiceIdentity } from '../shared/onion/index.ts';
import { decodeTagged, encodeTagged, KeyDirectory } from '../node-platform/key-files.ts';

/**
 * A HiddenServiceDir in tor's own layout, so a service can move between tor and Telescope:
 *
 *   hs_ed25519_secret_key   tagged "ed25519v1-secret" / "type0": the identity's expanded secret key
 *   hs_ed25519_public_key   tagged "ed25519v1-public" / "type0": the identity key
 *   hostname                "<56 characters>.onion\n"
 *   authorized_clients/     one "*.auth" file per client allowed in when client authorization is
 *                           on: "descriptor:x25519:<base32 public key>"
 *
 * The directory is created with mode 0700 (tor refuses to use a group-readable one).
 */

/** The identity OnionService runs with, and the address it gives. */
export interface ServiceIdentity extends OnionServiceIdentity {
  readonly hostname: string;
}

const SECRET = 'hs_ed25519_secret_key';
const PUBLIC = 'hs_ed25519_public_key';

/** The service's identity, made on first use. */
export async function loadOrCreateServiceIdentity(dir: string): Promise<ServiceIdentity> {
  const files = new KeyDirectory(dir, '');
  await files.ensure();
  const secretFile = await files.read(SECRET);
  let expandedSecretKey: Uint8Array;
  if (secretFile) {
    expandedSecretKey = decodeTagged(secretFile.bytes, join(dir, SECRET), 'ed25519v1-secret', 'type0', 64);
  } else {
    expandedSecretKey = expandSecretKey(new Uint8Array(randomBytes(32)));
    await files.write(SECRET, encodeTagged('ed25519v1-secret', 'type0', expandedSecretKey), new Date());
  }
  const publicKey = publicKeyFromExpanded(expandedSecretKey);
  const publicFile = await files.read(PUBLIC);
  if (publicFile) {
    const stored = decodeTagged(publicFile.bytes, join(dir, PUBLIC), 'ed25519v1-public', 'type0', 32);
    if (!equalBytes(stored, publicKey)) throw new ProtocolError(`key file ${join(dir, PUBLIC)}`, 'does not match hs_ed25519_secret_key');
  } else {
    await files.write(PUBLIC, encodeTagged('ed25519v1-public', 'type0', publicKey), new Date());
  }
  const hostname = encodeOnionAddress(publicKey);
  await files.writeIfChanged('hostname', new TextEncoder().encode(`${hostname}\n`), new Date());
  return { expandedSecretKey, publicKey, hostname };
}

/**
 * The x25519 public keys of the clients in DIR/authorized_clients/*.auth. An empty list means
 * client authorization is off (anyone with the address may connect), as in tor.
 */
export async function readAuthorizedClients(dir: string): Promise<Uint8Array[]> {
  const folder = join(dir, 'authorized_clients');
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => n.endsWith('.auth')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const keys: Uint8Array[] = [];
  for (const name of names) {
    const text = (await readFile(join(folder, name), 'utf8')).trim();
    keys.push(parseDescriptorAuthKey(text, join(folder, name)));
  }
  return keys;
}
