/**
 * util: what every layer of the core leans on and that knows nothing of Tor — typed errors, the
 * logger interface, the key-value store interface, the unexpected-error counter, the token
 * bucket (rate limiting for relays and onion services alike), and Unverified/Timebound (documents
 * that must pass their checks before use), and ListInterner (one copy of lists many objects hold).
 */
export * from './errors.ts';
export * from './log.ts';
export * from './storage.ts';
export * from './unexpected-errors.ts';
export * from './token-bucket.ts';
export * from './checkable.ts';
export * from './intern.ts';
