/** client: the TorClient facade (bootstrap, status, streams to exits and onion services) and bootstrap problems a person can act on. */
export * from './tor-client.ts';
export * from './bootstrap-problem.ts';
export * from './protocols.ts';
