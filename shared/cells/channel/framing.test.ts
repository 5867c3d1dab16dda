import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChanCmd } from './command.ts';
import { CellDecoder, encodeCell, type ChannelCell } from './framing.ts';

/**
 * The decoder's cost must be linear in the bytes it is fed, however they are cut: a peer that
 * sends a 64 KiB VERSIONS cell one byte per message must not make it copy gigabytes. The work is
 * counted (bytes copied by TypedArray set/slice/copyWithin while the decoder runs), not timed, so
 * the test says the same on a fast and a slow machine.
 */

type Counted = { bytes: number };

/** Runs `fn` with every TypedArray copy counted. */
function countCopies<T>(fn: () => T): { result: T; copied: number } {
  const proto = Uint8Array.prototype;
  const counter: Counted = { bytes: 0 };
  const set = proto.set;
  const slice = proto.slice;
  const copyWithin = proto.copyWithin;
  proto.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    counter.bytes += source.length;
    return set.call(this, source, offset);
  } as typeof proto.set;
  proto.slice = function (this: Uint8Array, start?: number, end?: number) {
    const r = slice.call(this, start, end);
    counter.bytes += r.length;
    return r;
  } as typeof proto.slice;
  proto.copyWithin = function (this: Uint8Array, target: number, start: number, end?: number) {
    counter.bytes += Math.max(0, (end ?? this.length) - start);
    return copyWithin.call(this, target, start, end);
  } as typeof proto.copyWithin;
  try {
    return { result: fn(), copied: counter.bytes };
  } finally {
    proto.set = set;
    proto.slice = slice;
    proto.copyWithin = copyWithin;
  }
}

function feed(d: CellDecoder, bytes: Uint8Array, cuts: number[]): ChannelCell[] {
  const out: ChannelCell[] = [];
  let pos = 0;
  for (const c of cuts) {
    if (pos >= bytes.length) break;
    out.push(...d.push(bytes.subarray(pos, pos + c)));
    pos += c;
  }
  out.push(...d.push(bytes.subarray(pos)));
  return out;
}

describe('CellDecoder cost', () => {
  it('a 64 KiB VERSIONS cell one byte per chunk costs linear copying, not quadratic', () => {
    const body = new Uint8Array(65535);
    for (let i = 0; i < body.length; i += 2) body[i + 1] = 4;
    const wire = encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body }, 0);
    const d = new CellDecoder(0);
    const { result: cells, copied } = countCopies(() => {
      const got: ChannelCell[] = [];
      for (let i = 0; i < wire.length; i++) got.push(...d.push(wire.subarray(i, i + 1)));
      return got;
    });
    expect(cells).toHaveLength(1);
    expect(cells[0]!.body).toEqual(body);
    expect(d.buffered).toBe(0);
    // Every byte is copied a small constant number of times (into the buffer, while it grows,
    // and once into the cell's body). The quadratic decoder copied about n²/2 = 2 GiB here.
    expect(copied).toBeLessThan(8 * wire.length);
  });

  it('stays linear for any chunking of many cells, fixed and variable', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ variable: fc.boolean(), len: fc.integer({ min: 0, max: 3000 }), circId: fc.integer({ min: 0, max: 0xffffffff }) }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 400 }),
      (specs, cuts) => {
        const cells: ChannelCell[] = specs.map((s) => ({ circId: s.circId, command: s.variable ? ChanCmd.VPADDING : ChanCmd.PADDING, body: new Uint8Array(s.variable ? s.len : 509).fill(s.len & 255) }));
        const wire = new Uint8Array(cells.reduce((n, c) => n + encodeCell(c, 4).length, 0));
        let pos = 0;
        for (const c of cells) {
          const e = encodeCell(c, 4);
          wire.set(e, pos);
          pos += e.length;
        }
        const d = new CellDecoder(4);
        const { result, copied } = countCopies(() => feed(d, wire, cuts));
        expect(result.map((c) => c.body.length)).toEqual(cells.map((c) => c.body.length));
        expect(result.map((c) => c.circId)).toEqual(cells.map((c) => c.circId));
        expect(d.buffered).toBe(0);
        expect(copied).toBeLessThanOrEqual(8 * wire.length + 4096);
      },
    ), { numRuns: 200 });
  });

  it('holds bytes after VERSIONS until the version is set, then decodes them', () => {
    const versions = encodeCell({ circId: 0, command: ChanCmd.VERSIONS, body: Uint8Array.of(0, 4, 0, 5) }, 0);
    const padding = encodeCell({ circId: 7, command: ChanCmd.PADDING, body: new Uint8Array(0) }, 5);
    const wire = Uint8Array.from([...versions, ...padding, ...padding]);
    for (let cut = 1; cut < wire.length; cut += 97) {
      const d = new CellDecoder(0);
      // As the channel does: the version is set as soon as VERSIONS comes out.
      const first = d.push(wire.subarray(0, cut));
      const rest: ChannelCell[] = [];
      if (first.length === 0) first.push(...d.push(wire.subarray(cut)));
      expect(first.map((c) => c.command)).toEqual([ChanCmd.VERSIONS]);
      d.linkVersion = 5;
      rest.push(...d.push(new Uint8Array(0)));
      if (cut >= versions.length) rest.push(...d.push(wire.subarray(cut)));
      expect(rest.map((c) => c.circId)).toEqual([7, 7]);
      expect(d.buffered).toBe(0);
    }
  });
});
