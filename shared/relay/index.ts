/**
 * relay: the relay side — the circuit switch (CREATE/CREATED, DoS defences), relay circuits
 * (forwarding, exits, BEGIN_DIR), the directory server, cell-queue memory, connect failures, and
 * the subprotocols the relay implements.
 */
export * from './switch.ts';
export * from './relay-circuit.ts';
export * from './dos.ts';
export * from './queue-memory.ts';
export * from './dir-server.ts';
export * from './connect-failures.ts';
export * from './protocols.ts';
