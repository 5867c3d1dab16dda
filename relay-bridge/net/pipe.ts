import type * as net from 'node:net';
import type { Logger } from '../../shared/log.ts';
import type { TorStream } from '../../shared/stream/stream.ts';

/** Copy bytes both ways between a TCP socket and a Tor stream, with backpressure each way. */
export function pipeStream(socket: net.Socket, stream: TorStream, early: Uint8Array, log: Logger): void {
  let closing = false;
  const closeBoth = () => {
    if (closing) return;
    closing = true;
    stream.close();
    socket.end();
  };
  // Socket → stream: pause the socket while the stream waits for window space.
  let writing = Promise.resolve();
  const forward = (chunk: Uint8Array) => {
    socket.pause();
    writing = writing.then(() => stream.write(chunk)).then(() => { if (!closing) socket.resume(); }, (e: unknown) => {
      log.info(`stream ${stream.target}: ${e instanceof Error ? e.message : String(e)}`);
      socket.destroy();
    });
  };
  if (early.length > 0) forward(new Uint8Array(early));
  socket.on('data', (c: Buffer) => forward(new Uint8Array(c.buffer, c.byteOffset, c.length)));
  socket.on('end', () => { void writing.then(closeBoth); });
  socket.on('close', closeBoth);
  // Stream → socket: read only as fast as the socket drains.
  void (async () => {
    try {
      for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
        if (!socket.write(chunk)) await new Promise<void>((r) => socket.once('drain', r));
        if (socket.destroyed) return;
      }
      socket.end();
    } catch (e) {
      log.info(`stream ${stream.target}: ${e instanceof Error ? e.message : String(e)}`);
      socket.destroy();
    }
  })();
}
