import { fromBase32 } from '../bytes/index.ts';
import { ConfigError } from '../config/index.ts';
import { TelescopeError } from '../util/index.ts';
import { parseOnionAddress } from './address.ts';

/**
 * Client authorization keys in tor's text formats (tor's manual, "CLIENT AUTHORIZATION"):
 *   a client's key (ClientOnionAuthDir/*.auth_private):  <56-char address>:descriptor:x25519:<base32 secret key>
 *   a service's client (authorized_clients/*.auth):      descriptor:x25519:<base32 public key>
 * `where` names the file or setting for error messages.
 */

/** "descriptor:x25519:<base32>" → the 32-byte key. */
export function parseDescriptorAuthKey(text: string, where: string): Uint8Array {
  const m = /^descriptor:x25519:([A-Za-z2-7]+=*)$/.exec(text.trim());
  if (!m) throw new ConfigError(`${where}: expected "descriptor:x25519:<base32 key>"`);
  let key: Uint8Array;
  try {
    key = fromBase32(m[1]!.replace(/=+$/, '').toLowerCase());
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
    throw new ConfigError(`${where}: the key is not base32: ${e.message}`, undefined, undefined, { cause: e });
  }
  if (key.length !== 32) throw new ConfigError(`${where}: an x25519 key is 32 bytes, this one is ${key.length}`);
  return key;
}

/** "<address>:descriptor:x25519:<base32 secret>" → the onion hostname and the client's secret key. */
export function parseClientAuthLine(text: string, where: string): { hostname: string; secretKey: Uint8Array } {
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  if (colon < 0) throw new ConfigError(`${where}: expected "<onion address>:descriptor:x25519:<base32 key>"`);
  let hostname: string;
  try {
    hostname = parseOnionAddress(`${trimmed.slice(0, colon).replace(/\.onion$/i, '')}.onion`).hostname;
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
    throw new ConfigError(`${where}: ${e.message}`, undefined, undefined, { cause: e });
  }
  return { hostname, secretKey: parseDescriptorAuthKey(trimmed.slice(colon + 1), where) };
}
