/**
 * netdoc: directory documents as text — the netdoc tokenizer (also used by onion-service
 * descriptors), authority key certificates, the microdesc consensus and its signature check,
 * microdescriptors, router descriptors (a bridge's own), consensus diffs, and subprotocol version
 * lists (protover).
 */
export * from './netdoc.ts';
export * from './authcert.ts';
export * from './consensus.ts';
export * from './microdesc.ts';
export * from './router-desc.ts';
export * from './consdiff.ts';
export * from './protover.ts';
