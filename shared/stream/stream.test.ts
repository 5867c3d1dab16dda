import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { RelayCmd, RELAY_DATA_MAX, Connected, Data, End, EndReason, Sendme, type RelayMsg } from '../cells/index.ts';
import { CircuitError, ProtocolError, StreamError } from '../util/index.ts';
import { STREAM_WINDOW_INCREMENT, STREAM_WINDOW_START, TorStream, type StreamCarrier } from './stream.ts';
import { rejection, settle, track } from '../testing/thrown.ts';

/**
 * TorStream against a fake carrier (the circuit side): what it sends, when it waits, what it
 * reports. circuit/circuit.test.ts runs the same flow control end to end over real relay crypto.
 */

class FakeCarrier implements StreamCarrier {
  readonly sent: { hop: number; streamId: number; msg: RelayMsg }[] = [];
  readonly closed: number[] = [];
  readonly violations: ProtocolError[] = [];
  /** While set, circuitWindowOpen waits on it (the circuit's package window is empty). */
  circuitGate: Promise<void> | undefined;

  sendOnStream(hop: number, streamId: number, msg: RelayMsg): void {
    this.sent.push({ hop, streamId, msg });
  }
  circuitWindowOpen(): Promise<void> {
    return this.circuitGate ?? Promise.resolve();
  }
  streamClosed(streamId: number): void {
    this.closed.push(streamId);
  }
  protocolViolation(error: ProtocolError): void {
    this.violations.push(error);
  }
  of(command: number): RelayMsg[] {
    return this.sent.filter((s) => s.msg.command === command).map((s) => s.msg);
  }
}

function setup(): { carrier: FakeCarrier; stream: TorStream } {
  const carrier = new FakeCarrier();
  return { carrier, stream: new TorStream(carrier, 2, 7, 'example.com:80') };
}

describe('TorStream: writing', () => {
  it('cuts data into DATA messages of at most 498 bytes, on its hop and stream id', async () => {
    const { carrier, stream } = setup();
    const data = Uint8Array.from({ length: 1200 }, (_, i) => i & 0xff);
    await stream.write(data);
    const cells = carrier.of(RelayCmd.DATA) as Data[];
    expect(cells.map((d) => d.data.length)).toEqual([498, 498, 204]);
    expect(concatBytes(...cells.map((d) => d.data))).toEqual(data);
    expect(carrier.sent.every((s) => s.hop === 2 && s.streamId === 7)).toBe(true);
    expect(stream.bytesWritten).toBe(1200);
    await stream.write(new Uint8Array(0));
    expect(carrier.sent.length).toBe(3);
  });

  it('blocks at a package window of 500 cells until a stream SENDME arrives', async () => {
    const { carrier, stream } = setup();
    const w = track(stream.write(new Uint8Array(RELAY_DATA_MAX * 560)));
    await settle();
    expect(carrier.of(RelayCmd.DATA).length).toBe(STREAM_WINDOW_START);
    expect(w.done()).toBe(false);
    stream.deliver(new Sendme());
    await settle();
    expect(carrier.of(RelayCmd.DATA).length).toBe(550);
    expect(w.done()).toBe(false);
    stream.deliver(new Sendme());
    await settle();
    expect(carrier.of(RelayCmd.DATA).length).toBe(560);
    expect(w.done()).toBe(true);
    expect(w.error()).toBeUndefined();
  });

  it('waits for the circuit window before each cell', async () => {
    const { carrier, stream } = setup();
    let open!: () => void;
    carrier.circuitGate = new Promise<void>((r) => { open = r; });
    const w = track(stream.write(utf8('hello')));
    await settle();
    expect(carrier.sent.length).toBe(0);
    carrier.circuitGate = undefined;
    open();
    await settle();
    expect(w.done()).toBe(true);
    expect((carrier.of(RelayCmd.DATA)[0] as Data).data).toEqual(utf8('hello'));
  });

  it('a stream SENDME beyond the window is a protocol violation', () => {
    const { carrier, stream } = setup();
    stream.deliver(new Sendme());
    expect(carrier.violations.length).toBe(1);
    expect(carrier.violations[0]!.message).toMatch(/SENDME beyond the window/);
  });

  it('a blocked writer fails when the stream fails', async () => {
    const { stream } = setup();
    const w = stream.write(new Uint8Array(RELAY_DATA_MAX * 501));
    await settle();
    stream.fail(new CircuitError('circuit gone', 8));
    const e = await rejection(w);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.DESTROY);
  });

  it('writing after close or END is refused', async () => {
    const { stream } = setup();
    stream.close();
    expect(await rejection(stream.write(utf8('x')))).toBeInstanceOf(StreamError);
    const other = setup().stream;
    other.deliver(new End(EndReason.DONE));
    expect(await rejection(other.write(utf8('x')))).toBeInstanceOf(StreamError);
  });

  it('any sequence of writes arrives whole and in order, in cells of at most 498 bytes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 8 }), async (chunks) => {
        const { carrier, stream } = setup();
        for (const c of chunks) await stream.write(c);
        const cells = carrier.of(RelayCmd.DATA) as Data[];
        for (const d of cells) {
          expect(d.data.length).toBeGreaterThan(0);
          expect(d.data.length).toBeLessThanOrEqual(RELAY_DATA_MAX);
        }
        expect(concatBytes(...cells.map((d) => d.data))).toEqual(concatBytes(...chunks));
      }),
      { numRuns: 50 },
    );
  });
});

describe('TorStream: reading', () => {
  it('returns data in order, then null after END DONE', async () => {
    const { carrier, stream } = setup();
    const pending = stream.read();
    stream.deliver(new Data(utf8('one')));
    expect(await pending).toEqual(utf8('one'));
    stream.deliver(new Data(utf8('two')));
    stream.deliver(new Data(new Uint8Array(0))); // empty DATA carries nothing
    stream.deliver(new Data(utf8('three')));
    stream.deliver(new End(EndReason.DONE));
    expect(await stream.read()).toEqual(utf8('two'));
    expect(await stream.read()).toEqual(utf8('three'));
    expect(await stream.read()).toBeNull();
    expect(await stream.read()).toBeNull();
    expect(stream.endReason).toBe(EndReason.DONE);
    expect(stream.isOpen).toBe(false);
    expect(stream.bytesRead).toBe(11);
    expect(carrier.closed).toEqual([7]);
    // The far side ended it: nothing is sent back.
    expect(carrier.of(RelayCmd.END)).toEqual([]);
  });

  it('an END with another reason gives the reader a StreamError with that reason, after the data', async () => {
    const { stream } = setup();
    stream.deliver(new Data(utf8('partial')));
    stream.deliver(new End(EndReason.CONNRESET));
    expect(await stream.read()).toEqual(utf8('partial'));
    const e = await rejection(stream.read());
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.CONNRESET);
    expect(stream.endReason).toBe(EndReason.CONNRESET);
  });

  it('a waiting reader wakes up on END', async () => {
    const { stream } = setup();
    const r = stream.read();
    stream.deliver(new End(EndReason.TIMEOUT));
    expect(((await rejection(r)) as StreamError).reason).toBe(EndReason.TIMEOUT);
  });

  it('sends a stream SENDME for every 50 cells while little is unread', async () => {
    const { carrier, stream } = setup();
    for (let i = 0; i < 49; i++) stream.deliver(new Data(utf8('x')));
    expect(carrier.of(RelayCmd.SENDME)).toEqual([]);
    stream.deliver(new Data(utf8('x')));
    const sendmes = carrier.of(RelayCmd.SENDME) as Sendme[];
    expect(sendmes.length).toBe(1);
    // Stream-level SENDMEs are v0 and empty.
    expect(sendmes[0]!.version).toBe(0);
    expect(sendmes[0]!.encode().length).toBe(0);
    for (let i = 0; i < 100; i++) stream.deliver(new Data(utf8('x')));
    expect(carrier.of(RelayCmd.SENDME).length).toBe(3);
  });

  it('holds back the stream SENDME while 50 full cells are unread, and sends it once the reader reads', async () => {
    const { carrier, stream } = setup();
    for (let i = 0; i < STREAM_WINDOW_INCREMENT; i++) stream.deliver(new Data(new Uint8Array(RELAY_DATA_MAX).fill(i)));
    expect(carrier.of(RelayCmd.SENDME)).toEqual([]);
    const first = await stream.read();
    expect(first![0]).toBe(0);
    expect(carrier.of(RelayCmd.SENDME).length).toBe(1);
  });

  it('DATA beyond the stream window is a protocol violation', () => {
    const { carrier, stream } = setup();
    for (let i = 0; i < STREAM_WINDOW_START; i++) stream.deliver(new Data(new Uint8Array(RELAY_DATA_MAX)));
    expect(carrier.violations).toEqual([]);
    expect(carrier.of(RelayCmd.SENDME)).toEqual([]);
    stream.deliver(new Data(new Uint8Array(1)));
    expect(carrier.violations.length).toBe(1);
    expect(carrier.violations[0]).toBeInstanceOf(ProtocolError);
  });

  it('ignores unexpected messages (a second CONNECTED)', async () => {
    const { carrier, stream } = setup();
    stream.deliver(new Connected());
    expect(carrier.sent).toEqual([]);
    expect(stream.isOpen).toBe(true);
  });

  it('readAll collects everything and enforces its limit', async () => {
    const { stream } = setup();
    stream.deliver(new Data(utf8('abc')));
    stream.deliver(new Data(utf8('def')));
    stream.deliver(new End(EndReason.DONE));
    expect(await stream.readAll()).toEqual(utf8('abcdef'));
    const small = setup().stream;
    small.deliver(new Data(utf8('abcdef')));
    small.deliver(new End(EndReason.DONE));
    expect(await rejection(small.readAll(5))).toBeInstanceOf(StreamError);
  });

  it('delivered chunks come out of read() in order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: RELAY_DATA_MAX }), { maxLength: 40 }), async (chunks) => {
        const { stream } = setup();
        for (const c of chunks) stream.deliver(new Data(c));
        stream.deliver(new End(EndReason.DONE));
        expect(await stream.readAll()).toEqual(concatBytes(...chunks));
      }),
      { numRuns: 50 },
    );
  });
});

describe('TorStream: closing', () => {
  it('on a stream the far end opened, END MISC is a clean close and our own END says DONE', async () => {
    const carrier = new FakeCarrier();
    const incoming = new TorStream(carrier, 0, 9, ':80', true);
    const r = incoming.read();
    incoming.deliver(new End(EndReason.MISC));
    expect(await r).toBeNull();
    const other = new TorStream(carrier, 0, 10, ':80', true);
    other.close();
    expect((carrier.of(RelayCmd.END) as End[]).map((e) => e.reason)).toEqual([EndReason.DONE]);
  });

  it('close() sends END once (MISC by default from the opener, proposal 148) and tells the circuit', async () => {
    const { carrier, stream } = setup();
    let closes = 0;
    stream.onClose(() => closes++);
    const r = stream.read();
    stream.close();
    stream.close(EndReason.DONE);
    expect(await r).toBeNull();
    expect((carrier.of(RelayCmd.END) as End[]).map((e) => e.reason)).toEqual([EndReason.MISC]);
    expect(carrier.closed).toEqual([7]);
    expect(closes).toBe(1);
    // Listeners added afterwards run at once.
    stream.onClose(() => closes++);
    expect(closes).toBe(2);
    // Data still in flight from the exit is dropped quietly.
    stream.deliver(new Data(utf8('late')));
    expect(carrier.violations).toEqual([]);
    const other = setup();
    other.stream.close(EndReason.TIMEOUT);
    expect((other.carrier.of(RelayCmd.END)[0] as End).reason).toBe(EndReason.TIMEOUT);
  });

  it('fail() makes reads throw a StreamError (reason DESTROY) carrying the cause', async () => {
    const { carrier, stream } = setup();
    const cause = new CircuitError('destroyed by the network', 1);
    const r = stream.read();
    stream.fail(cause);
    const e = await rejection(r);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.DESTROY);
    expect((e as StreamError).cause).toBe(cause);
    expect(carrier.closed).toEqual([7]);
    // A failed stream sends nothing more.
    stream.close();
    expect(carrier.sent).toEqual([]);
  });
});
