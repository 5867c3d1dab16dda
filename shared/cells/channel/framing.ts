import { ProtocolError, UsageError } from '../../util/index.ts';
import { CELL_BODY_LEN, isVariableLength } from './command.ts';

/**
 * Channel cell framing (tor-spec "Cell packet format"). Link protocol 3 uses 2-byte circuit ids
 * (512-byte fixed cells); 4 and 5 use 4-byte ids (514-byte fixed cells). Before a version is
 * agreed, VERSIONS cells use 2-byte ids. Variable-length cells are circId | command | u16 length |
 * payload.
 */

/** A framed cell: circuit id, command and body (509 bytes for fixed cells). */
export interface ChannelCell {
  readonly circId: number;
  readonly command: number;
  readonly body: Uint8Array;
}

export function circIdLength(linkVersion: number): 2 | 4 {
  return linkVersion >= 4 ? 4 : 2;
}

export function fixedCellLength(linkVersion: number): number {
  return circIdLength(linkVersion) + 1 + CELL_BODY_LEN;
}

/** Encode one cell for the wire. Fixed-cell bodies shorter than 509 bytes are zero-padded. */
export function encodeCell(cell: ChannelCell, linkVersion: number): Uint8Array {
  const idLen = circIdLength(linkVersion);
  const maxId = idLen === 4 ? 0xffffffff : 0xffff;
  if (!Number.isInteger(cell.circId) || cell.circId < 0 || cell.circId > maxId) throw new UsageError(`circuit id ${cell.circId} does not fit in ${idLen} bytes`);
  const variable = isVariableLength(cell.command);
  if (variable && cell.body.length > 0xffff) throw new UsageError(`variable-length cell body too long: ${cell.body.length}`);
  if (!variable && cell.body.length > CELL_BODY_LEN) throw new UsageError(`fixed cell body too long: ${cell.body.length} > ${CELL_BODY_LEN}`);
  const out = new Uint8Array(variable ? idLen + 3 + cell.body.length : idLen + 1 + CELL_BODY_LEN);
  const view = new DataView(out.buffer);
  if (idLen === 4) view.setUint32(0, cell.circId);
  else view.setUint16(0, cell.circId);
  out[idLen] = cell.command;
  if (variable) {
    view.setUint16(idLen + 1, cell.body.length);
    out.set(cell.body, idLen + 3);
  } else {
    out.set(cell.body, idLen + 1);
  }
  return out;
}

/**
 * Splits a byte stream into cells, whatever the chunking of the transport (TLS records, WebSocket
 * messages carrying several cells). Bytes are buffered only while a cell is incomplete, and never
 * more than one maximal variable-length cell (65535 + 7 bytes), so a peer cannot grow memory.
 * The link version may change mid-stream (after VERSIONS), via `linkVersion`.
 *
 * The cost is linear in the bytes fed, however they are cut: complete cells are decoded straight
 * from the chunk they arrive in, and an incomplete one is appended to a growable buffer (doubling,
 * compacted only when the bytes moved are no more than those consumed), so a peer that sends a
 * 64 KiB cell one byte at a time costs 64 KiB of copying, not the 2 GiB that re-joining all
 * pending bytes on every chunk would.
 */
export class CellDecoder {
  /** Pending bytes are buf[start, end). */
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  /** Link version for framing; 0 means "not negotiated yet" (2-byte circuit ids). */
  linkVersion: number;

  constructor(linkVersion = 0) {
    this.linkVersion = linkVersion;
  }

  /** Bytes held back waiting for the rest of a cell. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * Feed bytes; returns the complete cells they finish. Cell bodies are copies, safe to keep.
   * Throws ProtocolError for framing that cannot be valid (the channel must then be closed).
   */
  push(chunk: Uint8Array): ChannelCell[] {
    const cells: ChannelCell[] = [];
    if (this.start === this.end) {
      // Nothing pending: decode in place, keep only the incomplete tail.
      const pos = this.decode(chunk, 0, chunk.length, cells);
      this.start = this.end = 0;
      if (pos < chunk.length) this.append(chunk.subarray(pos));
      return cells;
    }
    this.append(chunk);
    this.start = this.decode(this.buf, this.start, this.end, cells);
    if (this.start === this.end) {
      this.start = this.end = 0;
      // A large cell's buffer is not kept for the life of an idle channel.
      if (this.buf.length > 4096) this.buf = new Uint8Array(0);
    }
    return cells;
  }

  /** Decodes complete cells from data[pos, limit); returns where the first incomplete one starts. */
  private decode(data: Uint8Array, pos: number, limit: number, cells: ChannelCell[]): number {
    for (;;) {
      const consumed = this.tryCell(data, pos, limit, cells);
      if (consumed === 0) return pos;
      pos += consumed;
      // The framing of what follows a VERSIONS cell depends on the version the caller picks from
      // it: stop here, and decode the rest once `linkVersion` is set (push an empty chunk).
      if (this.linkVersion === 0) return pos;
    }
  }

  /** Appends to the pending bytes: amortized O(1) per byte. */
  private append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const pending = this.end - this.start;
    if (this.end + bytes.length > this.buf.length) {
      const needed = pending + bytes.length;
      if (needed <= this.buf.length && this.start >= pending) {
        // Room once compacted, and moving costs no more than what was consumed since.
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const grown = new Uint8Array(Math.max(needed, 2 * this.buf.length, 1024));
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      }
      this.start = 0;
      this.end = pending;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** Decode one cell at `pos` if complete before `limit`; returns bytes consumed (0 if incomplete). */
  private tryCell(data: Uint8Array, pos: number, limit: number, out: ChannelCell[]): number {
    const idLen = circIdLength(this.linkVersion);
    const avail = limit - pos;
    if (avail < idLen + 1) return 0;
    const circId = idLen === 4
      ? ((data[pos]! << 24) | (data[pos + 1]! << 16) | (data[pos + 2]! << 8) | data[pos + 3]!) >>> 0
      : (data[pos]! << 8) | data[pos + 1]!;
    const command = data[pos + idLen]!;
    if (this.linkVersion === 0 && command !== 7) {
      throw new ProtocolError('channel framing', `expected VERSIONS before link negotiation, got command ${command}`, pos);
    }
    if (isVariableLength(command)) {
      if (avail < idLen + 3) return 0;
      const len = (data[pos + idLen + 1]! << 8) | data[pos + idLen + 2]!;
      const total = idLen + 3 + len;
      if (avail < total) return 0;
      out.push({ circId, command, body: data.slice(pos + idLen + 3, pos + total) });
      return total;
    }
    const total = idLen + 1 + CELL_BODY_LEN;
    if (avail < total) return 0;
    out.push({ circId, command, body: data.slice(pos + idLen + 1, pos + total) });
    return total;
  }
}
