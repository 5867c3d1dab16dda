/**
 * crypto: circuit handshakes (the ClientHandshake/ServerHandshake interfaces, ntor, CREATE_FAST,
 * and their registries by handshake type), hop keys and the tor1 relay-cell crypto, AES-CTR
 * engines, RSA, DER, Ed25519 certificates, X.509 and the link certificates of a CERTS cell.
 */
export * from './handshake.ts';
export * from './client-handshakes.ts';
export * from './server-handshakes.ts';
export * from './ntor.ts';
export * from './create-fast.ts';
export * from './circuit-keys.ts';
export * from './tor1.ts';
export * from './aes-ctr.ts';
export * from './kdf.ts';
export * from './sha1.ts';
export * from './rsa.ts';
export * from './rsa-crosscert.ts';
export * from './der.ts';
export * from './der-writer.ts';
export * from './ed25519-cert.ts';
export * from './x509.ts';
export * from './link-certs.ts';
