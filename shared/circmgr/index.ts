/**
 * circmgr: circuits for a client — one channel per relay (the pool), circuits built ahead of need
 * and matched to streams by exit port and isolation, streams opened with retries on other
 * circuits, bridges as first hops, and directory fetches over BEGIN_DIR (a first bootstrap's first contact
 * with fallbacks and authorities on tor's schedule), microdescriptors in parallel batches over
 * several caches.
 * The client facade and onion services build on it.
 */
export * from './channel-pool.ts';
export * from './circuit-manager.ts';
export * from './exit-stream.ts';
export * from './bridges.ts';
export * from './dir-http.ts';
export * from './dir-fetch.ts';
export * from './microdesc-download.ts';
export * from './first-contact.ts';
