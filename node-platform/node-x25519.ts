import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import type { Curve25519 } from '../shared/crypto/index.ts';

/**
 * Curve25519 through node:crypto (OpenSSL), for the relay's ntor handshakes: a relay answers a
 * CREATE2 for every circuit through it, and OpenSSL's X25519 is far faster than pure JavaScript.
 * Raw 32-byte keys are wrapped in the fixed PKCS#8 / SPKI headers for X25519 (RFC 8410).
 */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function privateKey(secret: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secret]), format: 'der', type: 'pkcs8' });
}

export const nodeCurve25519: Curve25519 = {
  publicKey(secret) {
    const spki = createPublicKey(privateKey(secret)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(spki.subarray(SPKI_X25519.length));
  },
  sharedSecret(secret, pub) {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519, pub]), format: 'der', type: 'spki' });
    return new Uint8Array(diffieHellman({ privateKey: privateKey(secret), publicKey }));
  },
};
