export { Reader } from './reader.ts';
export { Writer, type LengthPrefix } from './writer.ts';
export * from './util.ts';
