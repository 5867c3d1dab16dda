/**
 * directory: bootstrapping the directory as an I/O-free state machine — which documents to fetch
 * next, verifying those that arrive, and the NetDir once enough of them are in — and where the
 * documents come from: directory authorities and fallbacks, the public network's built in; and the
 * consensus' protocol requirements checked against what this build implements.
 */
export * from './bootstrap.ts';
export * from './directory-store.ts';
export type { AddressPort, BuiltInAuthority, BuiltInBridgeAuthority, DirAuthority, FallbackDir } from './authority.ts';
export * from './public-network.ts';
export * from './network.ts';
export * from './protocol-check.ts';
