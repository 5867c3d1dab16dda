/**
 * channel: a link to one relay — byte transports (the interface, WebSocket, in-memory pairs), the
 * link handshake of both sides (VERSIONS, CERTS, AUTH_CHALLENGE/AUTHENTICATE, NETINFO), and the
 * Channel that frames cells and maps circuit ids to circuits.
 */
export * from './transport.ts';
export * from './websocket-transport.ts';
export * from './memory-transport.ts';
export * from './handshake.ts';
export * from './responder.ts';
export * from './channel.ts';
