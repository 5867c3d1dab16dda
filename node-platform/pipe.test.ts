import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayCmd, Data, End, EndReason } from '../shared/cells/index.ts';
import type { RelayMsg } from '../shared/cells/index.ts';
import type { ProtocolError, Logger } from '../shared/util/index.ts';
import { TorStream, type StreamCarrier } from '../shared/stream/index.ts';
import { pipeStream } from './pipe.ts';

/**
 * pipeStream against real loopback TCP peers that misbehave the way ordinary web servers do: a
 * reset right after accepting, a reset in the middle of a response. Before the pipe had an 'error'
 * listener, either one was an uncaught exception (vitest reports it and fails the run; in the
 * relay it ended the process). The stream is a real TorStream over a carrier that records what it
 * would send towards the client.
 */

class RecordingCarrier implements StreamCarrier {
  readonly sent: RelayMsg[] = [];
  sendOnStream(_hop: number, _streamId: number, msg: RelayMsg): void {
    this.sent.push(msg);
  }
  circuitWindowOpen(): Promise<void> {
    return Promise.resolve();
  }
  streamClosed(): void {}
  protocolViolation(error: ProtocolError): void {
    throw error;
  }
  get ends(): End[] {
    return this.sent.filter((m): m is End => m.command === RelayCmd.END);
  }
  get dataBytes(): number {
    return this.sent.filter((m): m is Data => m.command === RelayCmd.DATA).reduce((n, d) => n + d.data.length, 0);
  }
}

const quiet: Logger = { debug() {}, info() {}, notice() {}, warn() {} };

/**
 * The END reason an exit gives a socket error (the relay passes its errno table, tested in its own
 * exit tests); here only what the pipe must hand over: the socket's error, reset or not.
 */
function endReasonForError(error: Error): number {
  return (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? EndReason.CONNRESET : EndReason.MISC;
}
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A loopback TCP server that runs `onConnection` for each peer; resolves with its port. */
async function server(onConnection: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {}); // the server side of a reset is not under test
    onConnection(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
}

/** A connected client socket, with no listener of the test's own left on it. */
async function connectTo(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => {
      s.off('error', reject);
      resolve();
    });
    s.once('error', reject);
  });
  return s;
}

async function eventually(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function exitStream(carrier: RecordingCarrier): TorStream {
  // The exit's side of a stream the client opened.
  return new TorStream(carrier, 0, 1, 'exit stream', true);
}

describe('pipeStream: a destination that resets', () => {
  it('a reset right after connecting (at the first request byte) ends only the stream, with END CONNRESET', async () => {
    // The server resets as soon as the request starts, so the reset cannot beat 'connect'.
    const port = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const socket = await connectTo(port);
    const carrier = new RecordingCarrier();
    const stream = exitStream(carrier);
    pipeStream(socket, stream, new Uint8Array(0), quiet, { endReasonFor: endReasonForError });
    stream.deliver(new Data(new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n'))); // the client's request
    await eventually(() => !stream.isOpen, 'the stream to end');
    expect(carrier.ends.map((e) => EndReason.nameOf(e.reason))).toEqual(['CONNRESET']);
    expect(socket.destroyed).toBe(true);
  });

  it('a reset in the middle of a response: the bytes before it are delivered, then END CONNRESET', async () => {
    const body = new Uint8Array(200_000).fill(0x61);
    const port = await server((s) => {
      s.write(body, () => setTimeout(() => s.resetAndDestroy(), 20));
    });
    const socket = await connectTo(port);
    const carrier = new RecordingCarrier();
    const stream = exitStream(carrier);
    pipeStream(socket, stream, new Uint8Array(0), quiet, { endReasonFor: endReasonForError });
    await eventually(() => !stream.isOpen, 'the stream to end');
    expect(carrier.dataBytes).toBeGreaterThan(0);
    expect(carrier.dataBytes).toBeLessThanOrEqual(body.length);
    expect(carrier.ends.map((e) => EndReason.nameOf(e.reason))).toEqual(['CONNRESET']);
  });

  it('a reset while the client is still sending: writes into the dead socket cost nothing but the stream', async () => {
    let serverSide!: net.Socket;
    const port = await server((s) => { serverSide = s; });
    const socket = await connectTo(port);
    const carrier = new RecordingCarrier();
    const stream = exitStream(carrier);
    pipeStream(socket, stream, new Uint8Array(0), quiet, { endReasonFor: endReasonForError });
    await eventually(() => serverSide !== undefined, 'the server to accept');
    // The client keeps sending (DATA towards the destination) across the reset.
    const chunk = new Data(new Uint8Array(498).fill(0x62));
    for (let i = 0; i < 20; i++) stream.deliver(chunk);
    serverSide.resetAndDestroy();
    for (let i = 0; i < 20; i++) stream.deliver(chunk);
    await eventually(() => !stream.isOpen, 'the stream to end');
    expect(carrier.ends).toHaveLength(1);
    expect(['CONNRESET', 'DONE']).toContain(EndReason.nameOf(carrier.ends[0]!.reason));
  });

  it('a socket that failed before the pipe took it over ends the stream with the reason it failed', async () => {
    const port = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const socket = await connectTo(port);
    socket.on('error', () => {}); // the exit's interim listener (openExitStream adds one)
    socket.write('G');
    await eventually(() => socket.destroyed, 'the reset to arrive');
    const carrier = new RecordingCarrier();
    const stream = exitStream(carrier);
    pipeStream(socket, stream, new Uint8Array(0), quiet, { endReasonFor: endReasonForError });
    expect(stream.isOpen).toBe(false);
    expect(carrier.ends.map((e) => EndReason.nameOf(e.reason))).toEqual(['CONNRESET']);
  });

  it('a clean close after a response: the bytes, then END DONE', async () => {
    const port = await server((s) => s.end('hello'));
    const socket = await connectTo(port);
    const carrier = new RecordingCarrier();
    const stream = exitStream(carrier);
    pipeStream(socket, stream, new Uint8Array(0), quiet, { endReasonFor: endReasonForError });
    await eventually(() => !stream.isOpen, 'the stream to end');
    expect(carrier.dataBytes).toBe(5);
    expect(carrier.ends.map((e) => EndReason.nameOf(e.reason))).toEqual(['DONE']);
  });
});
