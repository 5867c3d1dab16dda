/**
 * onion: onion services v3 — addresses, keys and blinding, time periods and the HSDir ring,
 * descriptors (both layers), INTRODUCE/RENDEZVOUS with hs-ntor, client authorization, the client
 * that reaches services and the service that hosts one.
 */
export * from './address.ts';
export * from './keys.ts';
export * from './time-period.ts';
export * from './hsdir-ring.ts';
export * from './descriptor.ts';
export * from './client-auth.ts';
export * from './client.ts';
export * from './service.ts';
