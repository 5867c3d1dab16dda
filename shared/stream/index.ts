/** stream: a duplex byte stream over a circuit (TorStream, reached through StreamCarrier) and its flow control. */
export * from './stream.ts';
export * from './flow-control.ts';
