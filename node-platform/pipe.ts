import type * as net from 'node:net';
import type { Logger } from '../shared/util/index.ts';
import type { TorStream } from '../shared/stream/index.ts';

export interface PipeOptions {
  /**
   * The END reason for a socket that failed (an exit maps errno as tor does: ECONNRESET →
   * CONNRESET, ...). Default: the stream's own default (DONE for a stream the far end opened,
   * MISC for one we opened).
   */
  readonly endReasonFor?: (error: Error) => number;
}

/**
 * Copy bytes both ways between a TCP socket and a Tor stream, with backpressure each way.
 *
 * The socket is the far end of someone else's choosing (an exit's destination, a SOCKS client, an
 * onion service's backend): it may reset at any moment, before or after data. A socket 'error'
 * with no listener is an uncaught exception that ends the process, so the listener goes on first,
 * and an error costs only this stream: it is ended with `endReasonFor(error)` and the socket
 * destroyed.
 */
export function pipeStream(socket: net.Socket, stream: TorStream, early: Uint8Array, log: Logger, opts: PipeOptions = {}): void {
  const endWith = (e: Error | null | undefined): void => {
    if (e && opts.endReasonFor) stream.close(opts.endReasonFor(e));
    else stream.close();
  };
  if (socket.destroyed) {
    // It failed (or closed) between connecting and being handed over: its 'error' and 'close'
    // are gone, only `errored` remembers why.
    log.info(`stream ${stream.target}: socket closed before the stream was attached`);
    endWith(socket.errored);
    return;
  }
  let closing = false;
  socket.on('error', (e: Error) => {
    log.info(`stream ${stream.target}: socket error ${(e as { code?: unknown }).code ?? e.message}`);
    if (!closing) {
      closing = true;
      endWith(e);
    }
    socket.destroy();
  });
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
  // Stream → socket: read only as fast as the socket drains; a socket that dies while we wait
  // for 'drain' never drains, so 'close' ends the wait too.
  const drained = () => new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
  void (async () => {
    try {
      for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
        if (socket.destroyed) return;
        if (!socket.write(chunk)) await drained();
      }
      if (!socket.destroyed) socket.end();
    } catch (e) {
      log.info(`stream ${stream.target}: ${e instanceof Error ? e.message : String(e)}`);
      socket.destroy();
    }
  })();
}
