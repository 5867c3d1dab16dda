/**
 * cells: the wire format below any crypto — channel cells and their framing (VERSIONS, CERTS,
 * NETINFO, CREATE2/CREATED2, DESTROY, RELAY…), the relay-cell header, relay messages (stream,
 * circuit and onion-service ones), link specifiers, and NETINFO's address encoding.
 */
export * from './address.ts';
export * from './channel/command.ts';
export * from './channel/framing.ts';
export * from './channel/messages.ts';
export * from './channel/certs.ts';
export * from './relay/command.ts';
export * from './relay/header.ts';
export * from './relay/messages.ts';
export * from './relay/onion-messages.ts';
export * from './relay/relay-msg.ts';
export * from './relay/link-specifier.ts';
