import { ProtocolError, UsageError } from '../../errors.ts';
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
 */
export class CellDecoder {
  private pending: Uint8Array = new Uint8Array(0);
  /** Link version for framing; 0 means "not negotiated yet" (2-byte circuit ids). */
  linkVersion: number;

  constructor(linkVersion = 0) {
    this.linkVersion = linkVersion;
  }

  /** Bytes held back waiting for the rest of a cell. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Feed bytes; returns the complete cells they finish. Cell bodies are copies, safe to keep.
   * Throws ProtocolError for framing that cannot be valid (the channel must then be closed).
   */
  push(chunk: Uint8Array): ChannelCell[] {
    let data: Uint8Array;
    if (this.pending.length === 0) data = chunk;
    else {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const cells: ChannelCell[] = [];
    let pos = 0;
    for (;;) {
      const consumed = this.tryCell(data, pos, cells);
      if (consumed === 0) break;
      pos += consumed;
      // The framing of what follows a VERSIONS cell depends on the version the caller picks from
      // it: stop here, and decode the rest once `linkVersion` is set (push an empty chunk).
      if (this.linkVersion === 0) break;
    }
    this.pending = pos === data.length ? new Uint8Array(0) : data.slice(pos);
    return cells;
  }

  /** Decode one cell at `pos` if complete; returns bytes consumed (0 if incomplete). */
  private tryCell(data: Uint8Array, pos: number, out: ChannelCell[]): number {
    const idLen = circIdLength(this.linkVersion);
    const avail = data.length - pos;
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
