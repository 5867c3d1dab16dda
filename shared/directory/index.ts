/**
 * directory: bootstrapping the directory as an I/O-free state machine — which documents to fetch
 * next, verifying those that arrive, and the NetDir once enough of them are in.
 */
export * from './bootstrap.ts';
export type { DirAuthority } from './authority.ts';
