import { StreamError, TelescopeError } from '../../../shared/util/index.ts';
import { CurlSocksEndpoint } from './socks-endpoint.ts';
import { sessionForProxyHost, type ByteStream, type SessionContext } from './streams.ts';

type Listener = (...args: unknown[]) => void;

/**
 * One TCP connection of curl's, in the shape emscripten's socket layer expects of a WebSocket:
 * readyState and its constants on the instance, onopen/onmessage/onclose/onerror (set after
 * construction), send() and close(). Under Node the same layer uses `.on(...)` instead; that is
 * supported too, for the unit tests.
 */
export class TorSocket {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 0;
  binaryType = 'arraybuffer';
  onopen: Listener = () => {};
  onmessage: Listener = () => {};
  onclose: Listener = () => {};
  onerror: Listener = () => {};
  private readonly listeners = new Map<string, Listener[]>();
  private readonly context: SessionContext | undefined;
  private stream: ByteStream | undefined;
  /** curl's SOCKS5 handshake, until its CONNECT is whole. */
  private socks: CurlSocksEndpoint | undefined = new CurlSocksEndpoint();
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly url: string) {
    // url = <libcurl's websocket url>/<host>:<port>; the host is the request's proxy name.
    const target = url.slice(url.lastIndexOf('/') + 1);
    const host = target.slice(0, target.lastIndexOf(':'));
    this.context = sessionForProxyHost(host);
    // Emscripten attaches its handlers after the constructor returns.
    setTimeout(() => {
      if (!this.context || this.context.closed) {
        // Not one of our sessions' proxy names: curl tried to reach something directly. Refuse.
        this.readyState = this.CLOSED;
        this.emit('error', 'onerror', {});
        this.emit('close', 'onclose', {});
        return;
      }
      this.readyState = this.OPEN;
      this.emit('open', 'onopen', {});
    }, 0);
  }

  on(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  private emit(type: string, property: 'onopen' | 'onmessage' | 'onclose' | 'onerror', event: unknown): void {
    this[property](event);
    for (const l of this.listeners.get(type) ?? []) {
      if (type === 'message') l((event as { data: Uint8Array }).data, { binary: true });
      else l(event);
    }
  }

  private deliver(bytes: Uint8Array): void {
    if (this.readyState !== this.OPEN || bytes.length === 0) return;
    this.emit('message', 'onmessage', { data: bytes });
  }

  send(data: ArrayBuffer | ArrayBufferView | string): void {
    if (this.readyState !== this.OPEN) return;
    const bytes = typeof data === 'string'
      ? new TextEncoder().encode(data)
      : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    if (this.socks) this.answerSocks(this.socks, bytes);
    else this.forward(bytes);
  }

  /** Curl's side of SOCKS5 arrives in pieces; answer each step, then open the stream. */
  private answerSocks(socks: CurlSocksEndpoint, bytes: Uint8Array): void {
    const { replies, connect, error } = socks.receive(bytes);
    for (const reply of replies) this.deliver(reply);
    if (error) {
      this.fail(error);
      return;
    }
    if (!connect) return;
    this.socks = undefined;
    void this.connect(connect.host, connect.port, connect.early);
  }

  private async connect(host: string, port: number, early: Uint8Array): Promise<void> {
    const context = this.context!;
    let stream: ByteStream;
    try {
      stream = await context.open(host, port);
    } catch (e) {
      this.deliver(CurlSocksEndpoint.refused(e));
      this.fail(e instanceof TelescopeError ? e : new StreamError(`could not open a stream to ${host}:${port}: ${String(e)}`));
      return;
    }
    if (this.readyState !== this.OPEN || context.closed) { stream.close(); return; }
    this.stream = stream;
    context.sockets.add(this);
    this.deliver(CurlSocksEndpoint.granted());
    if (early.length) this.forward(early);
    void this.pump(stream);
  }

  private forward(bytes: Uint8Array): void {
    const stream = this.stream;
    if (!stream) return;
    // Writes wait on Tor's windows; chaining them keeps curl's bytes in order.
    this.writing = this.writing.then(() => stream.write(bytes)).catch((e: unknown) => {
      this.ended(e instanceof TelescopeError ? e : new StreamError(String(e)));
    });
  }

  private async pump(stream: ByteStream): Promise<void> {
    try {
      for (let chunk = await stream.read(); chunk; chunk = await stream.read()) this.deliver(chunk);
      this.ended(undefined);
    } catch (e) {
      this.ended(e instanceof TelescopeError ? e : new StreamError(String(e)));
    }
  }

  /**
   * The handshake or the CONNECT failed (its refusal, if any, is delivered): curl fails the request
   * with CURLE_PROXY, explained by `error`.
   */
  private fail(error: TelescopeError): void {
    if (this.context && !this.context.failure) this.context.failure = error;
    this.ended(undefined);
  }

  /** The stream ended or failed: curl sees the connection close. */
  private ended(error: TelescopeError | undefined): void {
    if (error && this.context && !this.context.failure) this.context.failure = error;
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.stream?.close();
    this.context?.sockets.delete(this);
    // curl sees the close when it next looks at the connection, and does not reuse it.
    this.emit('close', 'onclose', {});
  }

  /** Curl closed the connection. Emscripten has forgotten the socket: no events after this. */
  close(): void {
    this.readyState = this.CLOSED;
    this.stream?.close();
    this.context?.sockets.delete(this);
  }

  get bufferedAmount(): number {
    return 0;
  }
}
