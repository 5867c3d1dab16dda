/** bytes: reading and writing byte strings (Reader, Writer), hex/base64/base32 and UTF-8, open enums. */
export * from './reader.ts';
export * from './writer.ts';
export * from './util.ts';
export * from './base32.ts';
export * from './open-enum.ts';
