/**
 * circuit: a client circuit — create, extend hop by hop, leaky-pipe relay cells, streams at any
 * hop — and circuit-level congestion control (today's fixed SENDME windows).
 */
export * from './circuit.ts';
export * from './congestion.ts';
export * from './fixed-windows.ts';
