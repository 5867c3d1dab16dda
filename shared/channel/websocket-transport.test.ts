import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { ChannelError } from '../util/index.ts';
import { WebSocketTransport, type WebSocketLike } from './websocket-transport.ts';

/**
 * WebSocketTransport over a scripted stand-in for the browser's WebSocket / `ws`: the test plays
 * the network (open, messages, errors, closes) and checks what reaches the channel above.
 */

class FakeWebSocket implements WebSocketLike {
  static made: FakeWebSocket[] = [];
  binaryType = 'blob';
  readyState = 0;
  readonly sent: Uint8Array[] = [];
  readonly closeCalls: (number | undefined)[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.made.push(this);
  }

  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.made.at(-1);
    if (!ws) throw new Error('no WebSocket was made');
    return ws;
  }

  send(data: Uint8Array): void {
    this.sent.push(data.slice());
  }

  close(code?: number): void {
    this.closeCalls.push(code);
    this.readyState = 2;
  }

  // ---- the network's side ----
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  message(data: unknown): void {
    this.onmessage?.({ data });
  }
  closed(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  error(): void {
    this.onerror?.({});
  }
}

/** A `ws`-like socket that can stop reading. */
class PausableWebSocket extends FakeWebSocket {
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses++;
  }
  resume(): void {
    this.resumes++;
  }
}

afterEach(() => {
  FakeWebSocket.made = [];
  vi.unstubAllGlobals();
});

async function connected(url = 'ws://127.0.0.1:9/'): Promise<{ t: WebSocketTransport; ws: FakeWebSocket; data: Uint8Array[]; closes: (Error | undefined)[] }> {
  const p = WebSocketTransport.connect(url, { WebSocket: FakeWebSocket });
  const ws = FakeWebSocket.last;
  ws.open();
  const t = await p;
  const data: Uint8Array[] = [];
  const closes: (Error | undefined)[] = [];
  t.onData = (d) => data.push(d.slice());
  t.onClose = (e) => closes.push(e);
  return { t, ws, data, closes };
}

describe('WebSocketTransport.connect', () => {
  it('resolves once the socket opens, asking for ArrayBuffers', async () => {
    const p = WebSocketTransport.connect('ws://bridge.example:80/', { WebSocket: FakeWebSocket });
    const ws = FakeWebSocket.last;
    expect(ws.url).toBe('ws://bridge.example:80/');
    expect(ws.binaryType).toBe('arraybuffer');
    let settled = false;
    void p.then(() => { settled = true; });
    await Promise.resolve();
    expect(settled).toBe(false);
    ws.open();
    const t = await p;
    expect(t.description).toBe('ws://bridge.example:80/');
  });

  it('rejects with ChannelError on an error before open', async () => {
    const p = WebSocketTransport.connect('ws://x/', { WebSocket: FakeWebSocket });
    FakeWebSocket.last.error();
    await expect(p).rejects.toBeInstanceOf(ChannelError);
  });

  it('rejects with ChannelError on a close before open, naming the code', async () => {
    const p = WebSocketTransport.connect('ws://x/', { WebSocket: FakeWebSocket });
    FakeWebSocket.last.closed(1006);
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChannelError);
    expect((e as Error).message).toContain('1006');
  });

  it('rejects on timeout and closes the socket', async () => {
    const p = WebSocketTransport.connect('ws://x/', { WebSocket: FakeWebSocket, timeoutMs: 20 });
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChannelError);
    expect((e as Error).message).toContain('timed out');
    expect(FakeWebSocket.last.closeCalls.length).toBe(1);
  });

  it('a socket that opens does not time out later', async () => {
    vi.useFakeTimers();
    try {
      const p = WebSocketTransport.connect('ws://x/', { WebSocket: FakeWebSocket, timeoutMs: 100 });
      FakeWebSocket.last.open();
      const t = await p;
      vi.advanceTimersByTime(1000);
      expect(FakeWebSocket.last.closeCalls).toEqual([]);
      expect(t.description).toBe('ws://x/');
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects with ChannelError when the constructor throws (a malformed URL)', async () => {
    class Throwing extends FakeWebSocket {
      constructor(url: string) {
        super(url);
        throw new SyntaxError('bad url');
      }
    }
    const e = await WebSocketTransport.connect('nonsense', { WebSocket: Throwing }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ChannelError);
    expect((e as Error).message).toContain('bad url');
  });

  it('rejects with ChannelError when there is no WebSocket at all', async () => {
    vi.stubGlobal('WebSocket', undefined);
    await expect(WebSocketTransport.connect('ws://x/')).rejects.toBeInstanceOf(ChannelError);
  });

  it('uses the global WebSocket when none is given', async () => {
    vi.stubGlobal('WebSocket', FakeWebSocket);
    const p = WebSocketTransport.connect('ws://global/');
    FakeWebSocket.last.open();
    expect((await p).description).toBe('ws://global/');
  });
});

describe('WebSocketTransport once open', () => {
  it('passes ArrayBuffers, typed arrays (views with offsets too) and arrays of buffers to onData', async () => {
    const { ws, data, closes } = await connected();
    ws.message(Uint8Array.of(1, 2, 3).buffer);
    ws.message(Uint8Array.of(4, 5));
    const big = Uint8Array.of(0, 0, 6, 7, 8, 0);
    ws.message(big.subarray(2, 5));
    ws.message(new DataView(Uint8Array.of(9, 10).buffer));
    ws.message([Uint8Array.of(11), Uint8Array.of(12, 13).buffer, Uint8Array.of(14)]);
    ws.message(new ArrayBuffer(0));
    expect(data.map((d) => [...d])).toEqual([[1, 2, 3], [4, 5], [6, 7, 8], [9, 10], [11, 12, 13, 14], []]);
    expect(closes).toEqual([]);
  });

  it('tells countReceived the size of each binary message it delivers, and nothing for a text one', async () => {
    const sizes: number[] = [];
    const p = WebSocketTransport.connect('ws://127.0.0.1:9/', { WebSocket: FakeWebSocket, countReceived: (n) => sizes.push(n) });
    const ws = FakeWebSocket.last;
    ws.open();
    const t = await p;
    t.onData = () => {};
    t.onClose = () => {};
    ws.message(Uint8Array.of(1, 2, 3).buffer);
    ws.message([Uint8Array.of(11), Uint8Array.of(12, 13).buffer]);
    ws.message('text');
    expect(sizes).toEqual([3, 3]);
  });

  it('a text message is a protocol failure: the socket is closed (1002) and onClose gets an error', async () => {
    const { ws, data, closes } = await connected();
    ws.message('hello');
    expect(data).toEqual([]);
    expect(ws.closeCalls).toEqual([1002]);
    expect(closes.length).toBe(1);
    expect(closes[0]).toBeInstanceOf(ChannelError);
    // The socket's own close event that follows is not reported twice.
    ws.closed(1002);
    expect(closes.length).toBe(1);
  });

  it('close codes 1000 and 1005 are clean; anything else is an error with the code and reason', async () => {
    for (const code of [1000, 1005]) {
      const { ws, closes } = await connected();
      ws.closed(code);
      expect(closes).toEqual([undefined]);
    }
    for (const code of [1001, 1006, 1011, 4000]) {
      const { ws, closes } = await connected();
      ws.closed(code, 'going away');
      expect(closes.length).toBe(1);
      expect(closes[0]).toBeInstanceOf(ChannelError);
      expect(closes[0]!.message).toContain(String(code));
      expect(closes[0]!.message).toContain('going away');
    }
  });

  it('an error event closes with ChannelError, reported once', async () => {
    const { ws, closes } = await connected();
    ws.error();
    ws.closed(1006);
    expect(closes.length).toBe(1);
    expect(closes[0]).toBeInstanceOf(ChannelError);
  });

  it('sends while open, and nothing once closed', async () => {
    const { t, ws } = await connected();
    t.send(Uint8Array.of(1, 2));
    expect(ws.sent.map((d) => [...d])).toEqual([[1, 2]]);
    ws.readyState = 2; // closing
    t.send(Uint8Array.of(3));
    expect(ws.sent.length).toBe(1);
    ws.readyState = 1;
    ws.closed(1000);
    t.send(Uint8Array.of(4));
    expect(ws.sent.length).toBe(1);
  });

  it('close() closes the socket with 1000 once the transport is still live; not after it finished', async () => {
    const a = await connected();
    a.t.close();
    expect(a.ws.closeCalls).toEqual([1000]);
    a.ws.closed(1000);
    expect(a.closes).toEqual([undefined]);
    a.t.close();
    expect(a.ws.closeCalls).toEqual([1000]);
  });

  it('delivers nothing after close() or after the socket finished', async () => {
    const a = await connected();
    a.t.close();
    a.ws.message(Uint8Array.of(1));
    expect(a.data).toEqual([]);
    const b = await connected();
    b.ws.closed(1006);
    b.ws.message(Uint8Array.of(2));
    expect(b.data).toEqual([]);
  });

  it('forwards pause() and resume() when the socket has them, and ignores them otherwise', async () => {
    const p = WebSocketTransport.connect('ws://x/', { WebSocket: PausableWebSocket });
    const ws = FakeWebSocket.last as PausableWebSocket;
    ws.open();
    const t = await p;
    t.pause();
    t.pause();
    t.resume();
    expect([ws.pauses, ws.resumes]).toEqual([2, 1]);
    const plain = await connected();
    expect(() => { plain.t.pause(); plain.t.resume(); }).not.toThrow();
  });

  it('fromOpen wraps an accepted socket the same way', () => {
    const ws = new FakeWebSocket('accepted');
    ws.readyState = 1;
    const t = WebSocketTransport.fromOpen(ws, 'a client');
    expect(ws.binaryType).toBe('arraybuffer');
    expect(t.description).toBe('a client');
    const data: number[][] = [];
    t.onData = (d) => data.push([...d]);
    ws.message(Uint8Array.of(7).buffer);
    expect(data).toEqual([[7]]);
    t.send(Uint8Array.of(8));
    expect(ws.sent.length).toBe(1);
  });

  it('any sequence of socket events: no exception, onClose at most once, binary data intact (property)', async () => {
    const event = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => ({ kind: 'buffer' as const, b })),
      fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 4 }).map((parts) => ({ kind: 'parts' as const, parts })),
      fc.oneof(fc.string(), fc.constant(null), fc.integer(), fc.constant({})).map((v) => ({ kind: 'other' as const, v })),
      fc.constantFrom(1000, 1001, 1002, 1005, 1006, 4001).map((code) => ({ kind: 'close' as const, code })),
      fc.constant({ kind: 'error' as const }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(event, { maxLength: 12 }), async (events) => {
        const { ws, data, closes } = await connected();
        const expected: number[][] = [];
        let finished = false;
        for (const e of events) {
          switch (e.kind) {
            case 'buffer':
              ws.message(e.b.slice().buffer);
              if (!finished) expected.push([...e.b]);
              break;
            case 'parts':
              ws.message(e.parts);
              if (!finished) expected.push(e.parts.flatMap((p) => [...p]));
              break;
            case 'other':
              ws.message(e.v);
              finished = true;
              break;
            case 'close':
              ws.closed(e.code);
              finished = true;
              break;
            case 'error':
              ws.error();
              finished = true;
              break;
          }
        }
        expect(closes.length).toBe(finished ? 1 : 0);
        expect(data.slice(0, expected.length).map((d) => [...d])).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

/** A `ws`-like socket whose send takes a write callback, called when the test says the bytes went out. */
class NodeWebSocket extends PausableWebSocket {
  readonly callbacks: ((err?: Error) => void)[] = [];
  bufferedAmount = 0;
  override send(data: Uint8Array, cb?: (err?: Error) => void): void {
    super.send(data);
    this.bufferedAmount += data.length;
    if (cb) this.callbacks.push(cb);
  }
  written(): void {
    this.bufferedAmount = 0;
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

describe('WebSocketTransport: drain signal (for the channel\'s high-water mark)', () => {
  it('with `ws` in Node: onDrain once every message handed over has been written', () => {
    const ws = new NodeWebSocket('ws://x/');
    ws.readyState = 1;
    const t = WebSocketTransport.fromOpen(ws, 'client');
    let drains = 0;
    t.onDrain = () => drains++;
    t.send(Uint8Array.of(1, 2, 3));
    t.send(Uint8Array.of(4));
    expect(t.bufferedAmount).toBe(4);
    expect(drains).toBe(0);
    ws.written();
    expect(drains).toBe(1);
    expect(t.bufferedAmount).toBe(0);
  });

  it('without a write callback (as in browsers): bufferedAmount is watched until it is 0, then onDrain', async () => {
    vi.useFakeTimers();
    try {
      const ws = new FakeWebSocket('ws://x/') as FakeWebSocket & { bufferedAmount: number };
      ws.bufferedAmount = 0;
      ws.readyState = 1;
      const t = WebSocketTransport.fromOpen(ws, 'bridge');
      let drains = 0;
      t.onDrain = () => drains++;
      ws.bufferedAmount = 100;
      t.send(Uint8Array.of(1));
      vi.advanceTimersByTime(100);
      expect(drains).toBe(0);
      ws.bufferedAmount = 0;
      vi.advanceTimersByTime(100);
      expect(drains).toBe(1);
      vi.advanceTimersByTime(1000);
      expect(drains).toBe(1); // the watch stopped
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('no drain watch is left behind when the socket closes', () => {
    vi.useFakeTimers();
    try {
      const ws = new FakeWebSocket('ws://x/') as FakeWebSocket & { bufferedAmount: number };
      ws.bufferedAmount = 50;
      ws.readyState = 1;
      const t = WebSocketTransport.fromOpen(ws, 'bridge');
      let drains = 0;
      t.onDrain = () => drains++;
      t.send(Uint8Array.of(1));
      expect(vi.getTimerCount()).toBe(1);
      ws.closed(1006);
      expect(vi.getTimerCount()).toBe(0);
      expect(drains).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
