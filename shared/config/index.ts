/** config: torrc syntax for the options the core knows (authorities, bridges, client and onion-service options). */
export * from './torrc.ts';
export * from './onion-service-config.ts';
export * from './bridge.ts';
export * from './fallback-dir.ts';
export * from './builtin-network.ts';
