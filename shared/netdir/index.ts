/**
 * netdir: the client's view of the network — relays of a verified consensus joined with their
 * microdescriptors (NetDir, NetRelay), built from parsed documents and read by path selection,
 * guards, circuit management and onion services.
 */
export * from './netdir.ts';
export * from './build.ts';
