import { ProtocolError, UsageError } from '../../util/index.ts';
import { CELL_BODY_LEN } from '../channel/command.ts';

/**
 * The plaintext layout of a relay cell body, format v0 (tor-spec "Relay cells"):
 *   command u8 | recognized u16 | stream id u16 | digest [4] | length u16 | data [length] | padding
 * The crypto layer (crypto/tor1.ts) owns `recognized` and the digest; this module packs and
 * unpacks the rest, in place on the 509-byte body.
 */
export const RELAY_COMMAND_OFFSET = 0;
export const RECOGNIZED_OFFSET = 1;
export const STREAM_ID_OFFSET = 3;
export const DIGEST_OFFSET = 5;
export const DIGEST_LEN = 4;
export const LENGTH_OFFSET = 9;
export const RELAY_HEADER_LEN = 11;
export const RELAY_DATA_MAX = CELL_BODY_LEN - RELAY_HEADER_LEN; // 498

/** Tor puts 4 zero bytes after the data, then random padding (so padding can't carry a covert channel of zeros). */
const ZERO_PAD = 4;

export type FillRandom = (bytes: Uint8Array) => void;
export const secureFillRandom: FillRandom = (b) => {
  // getRandomValues accepts at most 65536 bytes per call; relay padding is far below that.
  globalThis.crypto.getRandomValues(b);
};

/** A relay message with its addressing, before sealing. */
export interface RelayCellContents {
  readonly command: number;
  readonly streamId: number;
  readonly data: Uint8Array;
}

/** Pack a relay message into a fresh 509-byte body, ready for the crypto layer to seal. */
export function packRelayCell(cell: RelayCellContents, fillRandom: FillRandom = secureFillRandom): Uint8Array {
  if (cell.data.length > RELAY_DATA_MAX) throw new UsageError(`relay data of ${cell.data.length} bytes exceeds ${RELAY_DATA_MAX}`);
  if (!Number.isInteger(cell.streamId) || cell.streamId < 0 || cell.streamId > 0xffff) throw new UsageError(`stream id ${cell.streamId} out of range`);
  if (!Number.isInteger(cell.command) || cell.command < 0 || cell.command > 0xff) throw new UsageError(`relay command ${cell.command} out of range`);
  const body = new Uint8Array(CELL_BODY_LEN);
  body[RELAY_COMMAND_OFFSET] = cell.command;
  body[STREAM_ID_OFFSET] = cell.streamId >> 8;
  body[STREAM_ID_OFFSET + 1] = cell.streamId & 0xff;
  body[LENGTH_OFFSET] = cell.data.length >> 8;
  body[LENGTH_OFFSET + 1] = cell.data.length & 0xff;
  body.set(cell.data, RELAY_HEADER_LEN);
  const padStart = RELAY_HEADER_LEN + cell.data.length + ZERO_PAD;
  if (padStart < CELL_BODY_LEN) fillRandom(body.subarray(padStart));
  return body;
}

/**
 * Unpack a decrypted, recognized relay body. The data is a view into `body`.
 * Throws ProtocolError if the length field exceeds what a cell can hold.
 */
export function unpackRelayCell(body: Uint8Array): RelayCellContents {
  if (body.length !== CELL_BODY_LEN) throw new ProtocolError('relay cell', `body of ${body.length} bytes, expected ${CELL_BODY_LEN}`);
  const length = (body[LENGTH_OFFSET]! << 8) | body[LENGTH_OFFSET + 1]!;
  if (length > RELAY_DATA_MAX) throw new ProtocolError('relay cell', `length field ${length} exceeds ${RELAY_DATA_MAX}`, LENGTH_OFFSET);
  return {
    command: body[RELAY_COMMAND_OFFSET]!,
    streamId: (body[STREAM_ID_OFFSET]! << 8) | body[STREAM_ID_OFFSET + 1]!,
    data: body.subarray(RELAY_HEADER_LEN, RELAY_HEADER_LEN + length),
  };
}
