import { concatBytes, fromBase64, toBase64 } from '../../../shared/bytes/util.ts';
import { CertificateError, HandshakeError, ProtocolError, StreamError, TelescopeError, UsageError } from '../../../shared/errors.ts';
import type { HttpRequest, HttpResponse } from '../../../shared/http/http1.ts';
import type { HTTPSession } from 'libcurl.js';
import { libcurl, libcurlWasmUrl } from './libcurl-lib.ts';

/**
 * HTTPS through Tor: TLS runs in the worker, in libcurl.js (curl + Mbed TLS in WebAssembly, with
 * curl's extract of the Mozilla roots), on top of Tor streams.
 *
 * How a request reaches its stream. libcurl.js creates one WebSocket-shaped object per TCP
 * connection from a class we give it (`libcurl.transport`), knowing only "host:port". That class is
 * global to the worker, while streams belong to a site (its circuit, its isolation key). So each
 * curl session names itself as a SOCKS5 proxy, `socks5h://s<id>.telescope.invalid`: curl connects
 * to that name through our class, which finds the session by it, answers curl's SOCKS5 handshake, and
 * opens the Tor stream to the host name curl asks for (socks5h: the name, never a DNS lookup; the
 * exit resolves). Curl then runs TLS to the real host, with SNI and host name verification, over
 * the stream. Nothing is dialled except through `open`: a connection that does not carry a live
 * session's name is refused.
 *
 * Sessions (curl multi handles: connection cache, TLS session cache, HTTP/2 multiplexing) belong
 * to one first-party site and one set of trusted CAs (HttpsPool): a site's requests reuse its TLS
 * connections, as Tor Browser keeps them per first party, and nothing crosses to another site.
 * Each session has its own proxy name, so its connections open streams with its site's opener.
 */

/** A duplex byte stream as a Tor stream provides it. */
export interface ByteStream {
  /** The next chunk, or null at a clean end. */
  read(): Promise<Uint8Array | null>;
  write(data: Uint8Array): Promise<void>;
  close(): void;
}

/** Opens a Tor stream to host:port (on the circuit of the request's first-party site). */
export type StreamOpener = (host: string, port: number) => Promise<ByteStream>;

export interface HttpsOptions {
  /**
   * Extra trusted CA certificates (PEM), for private test networks. They are added to the Mozilla
   * roots for this request; certificate and host name validation stay as strict as ever.
   */
  readonly extraCaPem?: readonly string[];
  /** Largest decoded body accepted (default 64 MiB, as for plain HTTP). */
  readonly maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const PROXY_DOMAIN = '.telescope.invalid';
const PROXY_PORT = 1080;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers curl sets itself (framing, decompression) or that belong to one connection. */
const CURL_OWNED = /^(host|connection|keep-alive|proxy-connection|upgrade|te|accept-encoding|content-length|transfer-encoding|expect)$/i;

/** One curl session's way to the network, as its connections find it by the session's proxy name. */
interface SessionContext {
  /**
   * The opener of the session's latest request. All its requests share one first-party site, so
   * any of their openers reaches that site's circuit.
   */
  open: StreamOpener;
  /** Connections that have a stream: closed with the session. */
  readonly sockets: Set<TorSocket>;
  /** The latest thing that went wrong on our side of a connection (it explains curl's error code). */
  failure: TelescopeError | undefined;
  closed: boolean;
}

const contexts = new Map<string, SessionContext>();
let nextSessionId = 1;

// ---- SOCKS5 (RFC 1928), the server's side, as much as curl's socks5h client uses ----

/**
 * The client's greeting: VER=5, NMETHODS, METHODS. Returns its length once it is all in `buf`, or
 * null while incomplete. Only "no authentication" (0) is offered back.
 */
export function readSocksGreeting(buf: Uint8Array): number | null {
  if (buf.length < 2) return null;
  if (buf[0] !== 5) throw new ProtocolError('SOCKS5 greeting', `version ${buf[0]}, not 5`, 0);
  const n = buf[1]!;
  if (n === 0) throw new ProtocolError('SOCKS5 greeting', 'no authentication methods offered', 1);
  if (buf.length < 2 + n) return null;
  if (!buf.subarray(2, 2 + n).includes(0)) throw new ProtocolError('SOCKS5 greeting', 'the client does not offer "no authentication"', 2);
  return 2 + n;
}

export interface SocksTarget {
  readonly host: string;
  readonly port: number;
  /** Bytes of `buf` the request took. */
  readonly length: number;
}

/** The CONNECT request: VER=5, CMD=1, RSV, ATYP, DST.ADDR, DST.PORT; null while incomplete. */
export function readSocksConnect(buf: Uint8Array): SocksTarget | null {
  if (buf.length < 5) return null;
  if (buf[0] !== 5) throw new ProtocolError('SOCKS5 request', `version ${buf[0]}, not 5`, 0);
  if (buf[1] !== 1) throw new ProtocolError('SOCKS5 request', `command ${buf[1]}: only CONNECT is supported`, 1);
  const atyp = buf[3];
  let host: string;
  let pos: number;
  if (atyp === 1) {
    if (buf.length < 10) return null;
    host = Array.from(buf.subarray(4, 8)).join('.');
    pos = 8;
  } else if (atyp === 3) {
    const n = buf[4]!;
    if (n === 0) throw new ProtocolError('SOCKS5 request', 'empty host name', 4);
    if (buf.length < 5 + n + 2) return null;
    const name = buf.subarray(5, 5 + n);
    // Host names go to the exit in a BEGIN cell as text: printable ASCII only (curl here has no IDN).
    if (name.some((c) => c < 0x21 || c > 0x7e)) throw new ProtocolError('SOCKS5 request', 'host name is not printable ASCII', 5);
    host = String.fromCharCode(...name);
    pos = 5 + n;
  } else if (atyp === 4) {
    if (buf.length < 22) return null;
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(((buf[4 + 2 * i]! << 8) | buf[5 + 2 * i]!).toString(16));
    host = groups.join(':');
    pos = 20;
  } else {
    throw new ProtocolError('SOCKS5 request', `address type ${atyp}`, 3);
  }
  const port = (buf[pos]! << 8) | buf[pos + 1]!;
  if (port === 0) throw new ProtocolError('SOCKS5 request', 'port 0', pos);
  return { host, port, length: pos + 2 };
}

const SOCKS_NO_AUTH = Uint8Array.of(5, 0);
function socksReply(code: number): Uint8Array {
  return Uint8Array.of(5, code, 0, 1, 0, 0, 0, 0, 0, 0);
}
const SOCKS_SUCCEEDED = 0;
const SOCKS_GENERAL_FAILURE = 1;
const SOCKS_HOST_UNREACHABLE = 4;

type Listener = (...args: unknown[]) => void;

/**
 * One TCP connection of curl's, in the shape emscripten's socket layer expects of a WebSocket:
 * readyState and its constants on the instance, onopen/onmessage/onclose/onerror (set after
 * construction), send() and close(). Under Node the same layer uses `.on(...)` instead; that is
 * supported too, for the unit tests.
 */
class TorSocket {
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
  private handshake: Uint8Array | undefined = new Uint8Array(0);
  private greeted = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly url: string) {
    // url = <libcurl's websocket url>/<host>:<port>; the host is the request's proxy name.
    const target = url.slice(url.lastIndexOf('/') + 1);
    const host = target.slice(0, target.lastIndexOf(':'));
    const id = host.endsWith(PROXY_DOMAIN) ? host.slice(0, -PROXY_DOMAIN.length) : '';
    this.context = contexts.get(id);
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
    if (this.handshake) this.socks(bytes);
    else this.forward(bytes);
  }

  /** Curl's side of SOCKS5 arrives in pieces; answer each step, then open the stream. */
  private socks(bytes: Uint8Array): void {
    let buf = concatBytes(this.handshake!, bytes);
    try {
      if (!this.greeted) {
        const n = readSocksGreeting(buf);
        if (n === null) { this.handshake = buf; return; }
        this.greeted = true;
        buf = buf.subarray(n);
        this.deliver(SOCKS_NO_AUTH);
      }
      const req = readSocksConnect(buf);
      if (req === null) { this.handshake = buf; return; }
      this.handshake = undefined;
      const early = buf.subarray(req.length);
      void this.connect(req.host, req.port, early);
    } catch (e) {
      this.fail(e instanceof TelescopeError ? e : new ProtocolError('SOCKS5 from curl', String(e)), SOCKS_GENERAL_FAILURE);
    }
  }

  private async connect(host: string, port: number, early: Uint8Array): Promise<void> {
    const context = this.context!;
    let stream: ByteStream;
    try {
      stream = await context.open(host, port);
    } catch (e) {
      this.fail(e instanceof TelescopeError ? e : new StreamError(`could not open a stream to ${host}:${port}: ${String(e)}`), SOCKS_HOST_UNREACHABLE);
      return;
    }
    if (this.readyState !== this.OPEN || context.closed) { stream.close(); return; }
    this.stream = stream;
    context.sockets.add(this);
    this.deliver(socksReply(SOCKS_SUCCEEDED));
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

  /** Refuse curl's CONNECT: it then fails the request with CURLE_PROXY, explained by `error`. */
  private fail(error: TelescopeError, socksCode: number): void {
    if (this.context && !this.context.failure) this.context.failure = error;
    if (this.greeted) this.deliver(socksReply(socksCode));
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

// ---- loading libcurl.js, and the trusted roots ----

interface WasmExports {
  readonly memory: WebAssembly.Memory;
  malloc(size: number): number;
  get_cacert(): number;
}

/** Where curl takes its CA bundle from, and the extra-CA bundles made so far. */
interface CaStore {
  readonly exports: WasmExports;
  /** Address of libcurl.js's global `struct curl_blob cacert_blob` { data, len, flags }. */
  readonly blobAddress: number;
  readonly rootsPtr: number;
  readonly rootsLen: number;
  readonly bundles: Map<string, { ptr: number; len: number }>;
}

interface Runtime {
  readonly Session: new () => TorSession;
  /** Undefined if this libcurl.js build's CA blob could not be found: extra CAs are then refused. */
  readonly ca: CaStore | undefined;
}

interface TorSession extends HTTPSession {
  /** Starts one transfer (synchronously, as request_async does) that reports to `transfer`. */
  start(url: string, params: Record<string, unknown>, body: Uint8Array | null, transfer: Transfer): Promise<unknown>;
  /** Transfers started and not yet ended or removed. */
  readonly active_requests: number;
}

/** What one transfer of a session learns; curl's callbacks are per session, this is per request. */
class Transfer {
  /** curl's result code once the transfer ended (0 = complete). */
  endCode: number | undefined;
  /** The final response head, from curl's header lines (HTTP/2's as curl writes them out). */
  readonly head: ResponseHead = { status: 0, statusText: '', headers: [] };
  private headDone: () => void = () => {};
  /** Resolves once the final (non-1xx) head is complete. */
  readonly headComplete = new Promise<void>((resolve) => { this.headDone = resolve; });
  /** Set when the pool cut the transfer off (the site was forgotten): the reason it failed. */
  failure: TelescopeError | undefined;

  /** curl hands over the head line by line: status line, fields, then an empty line. */
  headerLine(bytes: Uint8Array): void {
    const line = new TextDecoder('latin1').decode(bytes).replace(/\r?\n$/, '');
    const status = /^HTTP\/[\d.]+ (\d{3})(?: (.*))?$/.exec(line);
    const head = this.head;
    if (status) {
      // A new head (after a 1xx, or a second response): start over.
      head.status = Number(status[1]);
      head.statusText = status[2] ?? '';
      head.headers = [];
    } else if (line === '') {
      if (head.status >= 200) this.headDone();
    } else if (/^[ \t]/.test(line) && head.headers.length > 0) {
      const last = head.headers[head.headers.length - 1]!;
      last[1] = `${last[1]} ${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      if (colon > 0) head.headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
  }
}

interface ResponseHead {
  status: number;
  /** The reason phrase of the status line (HTTP/1.x; HTTP/2 has none). */
  statusText: string;
  headers: [string, string][];
}

let runtime: Promise<Runtime> | undefined;

function loadRuntime(): Promise<Runtime> {
  runtime ??= startRuntime().catch((e: unknown) => {
    runtime = undefined;
    throw e instanceof TelescopeError ? e : new TelescopeError(`libcurl.js did not start: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  });
  return runtime;
}

async function startRuntime(): Promise<Runtime> {
  // libcurl.js keeps its WebAssembly instance to itself; the CA bundle can only be extended by
  // writing to its memory, so catch the instance as it is made.
  const wasm = WebAssembly as unknown as Record<'instantiate' | 'instantiateStreaming', (...args: unknown[]) => Promise<unknown>>;
  const original = { instantiate: wasm.instantiate, instantiateStreaming: wasm.instantiateStreaming };
  let instance: WebAssembly.Instance | undefined;
  const keep = (result: unknown) => {
    const i = result instanceof WebAssembly.Instance ? result : (result as { instance?: unknown }).instance;
    if (i instanceof WebAssembly.Instance && 'get_cacert' in i.exports) instance = i;
    return result;
  };
  wasm.instantiate = (...args) => original.instantiate.apply(WebAssembly, args).then(keep);
  wasm.instantiateStreaming = (...args) => original.instantiateStreaming.apply(WebAssembly, args).then(keep);
  libcurl.logger = () => {};
  libcurl.stdout = () => {};
  libcurl.stderr = () => {};
  try {
    await libcurl.load_wasm(libcurlWasmUrl);
  } catch (e) {
    throw new TelescopeError(`libcurl.js could not load its WebAssembly (${libcurlWasmUrl}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    wasm.instantiate = original.instantiate;
    wasm.instantiateStreaming = original.instantiateStreaming;
  }
  libcurl.transport = TorSocket;
  // The URL is only a prefix for the names our transport class receives; nothing dials it.
  libcurl.set_websocket('wss://telescope.invalid/');

  class Session extends libcurl.HTTPSession implements TorSession {
    private next: Transfer | undefined;
    /** Curl handles whose end curl has not reported yet. */
    private readonly unfinished = new Set<number>();

    constructor() {
      super();
      // One site's connections: a few per host, as browsers keep them (Tor Browser: 6 per server).
      this.set_connections(16, 12, 6);
    }

    start(url: string, params: Record<string, unknown>, body: Uint8Array | null, transfer: Transfer): Promise<unknown> {
      this.next = transfer;
      try {
        return this.request_async(url, params, body);
      } finally {
        this.next = undefined;
      }
    }

    override create_request(url: string, onData: (c: Uint8Array) => void, onEnd: (code: number) => void): number {
      const transfer = this.next;
      if (!transfer) throw new UsageError('a libcurl.js transfer was started outside Session.start');
      let handle = 0;
      handle = super.create_request(url, onData, (code) => {
        this.unfinished.delete(handle);
        transfer.endCode = code;
        onEnd(code);
      }, (line) => transfer.headerLine(line));
      this.unfinished.add(handle);
      return handle;
    }

    // The body as a stream, without the Fetch Response libcurl.js would build (which cannot carry
    // a 304 with a stream).
    static override create_response(body: ReadableStream<Uint8Array> | null): unknown {
      return body;
    }

    /**
     * Free everything now, transfers in progress included, and stop the timer that drives curl: the
     * base class frees on a later task while its timer may still call into the freed session.
     */
    override close(): void {
      if (this.event_loop) clearInterval(this.event_loop);
      this.event_loop = null;
      this.close_now();
    }

    /** Requests are freed once: the base class may schedule a removal that close() already did. */
    override remove_request_now(request: number): void {
      if (!this.requests_list.includes(request)) return;
      // curl reports no end for a transfer removed before it ended (an abort); without this count
      // the base class's timer would keep driving an idle session for ever.
      if (this.unfinished.delete(request)) this.active_requests--;
      super.remove_request_now(request);
    }
  }
  return { Session, ca: instance ? findCaBlob(instance.exports as unknown as WasmExports) : undefined };
}

/**
 * libcurl.js hands curl its roots from a global `struct curl_blob` {data, len, flags} whose data is
 * what get_cacert() returns. It is found by those values before any request has run (so no copy of
 * it exists yet); exactly one match or none is used.
 */
function findCaBlob(exports: WasmExports): CaStore | undefined {
  const bytes = new Uint8Array(exports.memory.buffer);
  const rootsPtr = exports.get_cacert();
  if (!rootsPtr) return undefined;
  const end = bytes.indexOf(0, rootsPtr);
  if (end < 0) return undefined;
  const rootsLen = end - rootsPtr + 1;
  const words = new Uint32Array(exports.memory.buffer);
  let found = -1;
  for (let i = 0; i + 2 < words.length; i++) {
    if (words[i] === rootsPtr && words[i + 1] === rootsLen && words[i + 2] === 0) {
      if (found >= 0) return undefined;
      found = i * 4;
    }
  }
  return found < 0 ? undefined : { exports, blobAddress: found, rootsPtr, rootsLen, bundles: new Map() };
}

/** The DER certificates in a PEM text; throws CertificateError if there are none or one is broken. */
export function parsePemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    let der: Uint8Array;
    try {
      der = fromBase64(m[1]!);
    } catch (e) {
      throw new CertificateError('extra CA certificate', `certificate ${out.length + 1} is not valid base64`, { cause: e });
    }
    // An X.509 certificate is a DER SEQUENCE with a long-form length (it is always > 127 bytes).
    if (der.length < 64 || der[0] !== 0x30 || (der[1]! & 0x80) === 0) {
      throw new CertificateError('extra CA certificate', `certificate ${out.length + 1} is not a DER X.509 certificate`);
    }
    out.push(der);
  }
  if (out.length === 0) throw new CertificateError('extra CA certificate', 'no "BEGIN CERTIFICATE" block in the PEM text');
  return out;
}

function pemOf(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${toBase64(der).replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----`;
}

/** The Mozilla roots plus `extra`, NUL-terminated in WebAssembly memory (kept for the worker's life). */
function caBundle(ca: CaStore, extra: readonly string[]): { ptr: number; len: number } {
  const certs = extra.flatMap(parsePemCertificates);
  const key = certs.map((c) => toBase64(c)).join(',');
  const known = ca.bundles.get(key);
  if (known) return known;
  const roots = new Uint8Array(ca.exports.memory.buffer, ca.rootsPtr, ca.rootsLen - 1).slice();
  const added = new TextEncoder().encode(`\n${certs.map(pemOf).join('\n')}\n`);
  const len = roots.length + added.length + 1;
  const ptr = ca.exports.malloc(len);
  if (!ptr) throw new TelescopeError('libcurl.js is out of memory for the CA bundle');
  // malloc may have grown the memory: views are made after it.
  const mem = new Uint8Array(ca.exports.memory.buffer);
  mem.set(roots, ptr);
  mem.set(added, ptr + roots.length);
  mem[ptr + len - 1] = 0;
  const bundle = { ptr, len };
  ca.bundles.set(key, bundle);
  return bundle;
}

/**
 * Run `start` (which creates curl's easy handle synchronously, copying the CA blob into it) with the
 * blob pointing at `bundle`, and point it back at the plain roots straight after: other requests
 * never see the extra CAs.
 */
function withCaBundle<T>(ca: CaStore, bundle: { ptr: number; len: number }, start: () => T): T {
  const set = (ptr: number, len: number) => {
    const blob = new Uint32Array(ca.exports.memory.buffer, ca.blobAddress, 3);
    blob[0] = ptr;
    blob[1] = len;
  };
  set(bundle.ptr, bundle.len);
  try {
    return start();
  } finally {
    set(ca.rootsPtr, ca.rootsLen);
  }
}

// ---- the request ----

/** curl result codes (libcurl-errors) that https.ts tells apart. */
const CURLE = {
  COULDNT_RESOLVE_PROXY: 5,
  COULDNT_CONNECT: 7,
  WEIRD_SERVER_REPLY: 8,
  HTTP2: 16,
  PARTIAL_FILE: 18,
  OPERATION_TIMEDOUT: 28,
  SSL_CONNECT_ERROR: 35,
  GOT_NOTHING: 52,
  SEND_ERROR: 55,
  RECV_ERROR: 56,
  SSL_CERTPROBLEM: 58,
  PEER_FAILED_VERIFICATION: 60,
  BAD_CONTENT_ENCODING: 61,
  SSL_CACERT_BADFILE: 77,
  SSL_ISSUER_ERROR: 83,
  HTTP2_STREAM: 92,
  PROXY: 97,
} as const;

function curlError(code: number, url: URL, failure: TelescopeError | undefined): TelescopeError {
  const what = `${libcurl.get_error_string(code)} (curl error ${code})`;
  switch (code) {
    case CURLE.PEER_FAILED_VERIFICATION:
    case CURLE.SSL_CERTPROBLEM:
    case CURLE.SSL_CACERT_BADFILE:
    case CURLE.SSL_ISSUER_ERROR:
      return new CertificateError(`TLS certificate of ${url.host}`,
        `not accepted: it does not chain to a trusted root, does not name ${url.hostname}, or is not valid now — ${what}`);
    case CURLE.SSL_CONNECT_ERROR:
      return failure ?? new HandshakeError('TLS', `with ${url.host}: ${what}`);
    case CURLE.COULDNT_RESOLVE_PROXY:
    case CURLE.COULDNT_CONNECT:
    case CURLE.PROXY:
    case CURLE.SEND_ERROR:
    case CURLE.RECV_ERROR:
    case CURLE.GOT_NOTHING:
    case CURLE.PARTIAL_FILE:
    case CURLE.OPERATION_TIMEDOUT:
      return failure ?? new StreamError(`${url.host}: ${what}`);
    case CURLE.WEIRD_SERVER_REPLY:
    case CURLE.HTTP2:
    case CURLE.HTTP2_STREAM:
    case CURLE.BAD_CONTENT_ENCODING:
      return new ProtocolError('HTTPS response', `${url.host}: ${what}`);
    default:
      return failure ?? new TelescopeError(`HTTPS request to ${url.host} failed: ${what}`);
  }
}

/** Request headers for curl: checked like plain HTTP's, minus those curl sets itself. */
function requestHeaders(request: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers ?? {})) {
    if (!TOKEN.test(k) || /[\r\n\0]/.test(v)) throw new ProtocolError('HTTPS request', `bad header "${k.slice(0, 40)}"`);
    if (!CURL_OWNED.test(k)) out[k] = v;
  }
  return out;
}

/** The response head as HttpResponse carries it: lower-case names, repeats joined. */
function responseHeaders(pairs: readonly (readonly [string, string])[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const [name, value] of pairs) {
    const k = name.toLowerCase();
    const prev = headers.get(k);
    // Set-Cookie values may hold commas (Expires): cookie-jar.ts splits them on "\n".
    headers.set(k, prev === undefined ? value : `${prev}${k === 'set-cookie' ? '\n' : ', '}${value}`);
  }
  // curl has already decoded gzip/deflate/br: the body is the identity form of itself now.
  if (headers.has('content-encoding')) {
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  return headers;
}

async function readBody(body: ReadableStream<Uint8Array> | null, limit: number, url: URL): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new StreamError(`${url.host}: response body larger than ${limit} bytes`);
    }
    parts.push(value);
  }
  return concatBytes(...parts);
}

/** One curl session: one first-party site's connections, under one set of trusted CAs. */
interface PooledSession {
  readonly key: string;
  readonly session: TorSession;
  readonly proxyId: string;
  readonly context: SessionContext;
  /** Transfers in progress, each abortable. */
  readonly transfers: Map<Transfer, AbortController>;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  lastUsed: number;
}

function openSession(rt: Runtime, key: string, open: StreamOpener): PooledSession {
  const proxyId = `s${nextSessionId++}`;
  const context: SessionContext = { open, sockets: new Set(), failure: undefined, closed: false };
  const session = new rt.Session();
  contexts.set(proxyId, context);
  return { key, session, proxyId, context, transfers: new Map(), idleTimer: undefined, lastUsed: Date.now() };
}

/**
 * Close a session now: its transfers fail with `reason`, its connections and their streams close,
 * and its proxy name stops opening streams.
 */
function closeSession(s: PooledSession, reason: TelescopeError): void {
  if (s.context.closed) return;
  s.context.closed = true;
  if (s.idleTimer) clearTimeout(s.idleTimer);
  for (const [transfer, abort] of s.transfers) {
    transfer.failure ??= reason;
    abort.abort();
  }
  s.session.close();
  for (const socket of [...s.context.sockets]) socket.close();
  contexts.delete(s.proxyId);
}

export interface HttpsPoolOptions {
  /** An unused session is closed after this long (default 60 s). */
  readonly idleMs?: number;
  /** Most sessions kept at once (default 16); beyond it the least recently used idle one goes. */
  readonly maxSessions?: number;
}

/**
 * HTTPS sessions kept per first-party site: requests of one site reuse its TLS connections
 * (keep-alive, HTTP/2), while two sites never share a session, a connection or a TLS session
 * cache. A session is also per set of extra CAs, so extra CAs never reach a request that did not
 * ask for them.
 */
export class HttpsPool {
  private readonly sessions = new Map<string, PooledSession>();
  private readonly idleMs: number;
  private readonly maxSessions: number;

  constructor(options: HttpsPoolOptions = {}) {
    this.idleMs = options.idleMs ?? 60_000;
    this.maxSessions = options.maxSessions ?? 16;
  }

  /** Sessions open now (for tests and the status page). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * One HTTPS request on `site`'s session; new connections are opened with `open`, which must
   * reach `site`'s circuit (any opener given for the same site is used for that site's streams).
   */
  async request(site: string, open: StreamOpener, request: HttpRequest, options: HttpsOptions = {}): Promise<HttpResponse> {
    const prepared = await prepare(request, options);
    const key = `${site}\n${prepared.caKey}`;
    let pooled = this.sessions.get(key);
    let oneShot = false;
    if (!pooled) {
      if (this.sessions.size >= this.maxSessions && !this.evictIdle()) {
        // Every session is busy: this request gets a session of its own, as before pooling.
        oneShot = true;
        pooled = openSession(prepared.rt, key, open);
      } else {
        pooled = openSession(prepared.rt, key, open);
        this.sessions.set(key, pooled);
      }
    }
    const s = pooled;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = undefined;
    s.lastUsed = Date.now();
    s.context.open = open;
    try {
      return await runTransfer(s, prepared, request, options);
    } finally {
      if (oneShot) closeSession(s, new StreamError('the request is over'));
      else if (!s.context.closed && s.transfers.size === 0) {
        s.lastUsed = Date.now();
        s.idleTimer = setTimeout(() => this.drop(s, new StreamError(`${site}: HTTPS session closed after being idle`)), this.idleMs);
        // Node (tests, tools) need not stay up for an idle session.
        (s.idleTimer as { unref?: () => void }).unref?.();
      }
    }
  }

  /** "New circuit for this site": the site's sessions close, its next request connects afresh. */
  forgetSite(site: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.key.slice(0, s.key.lastIndexOf('\n')) === site) this.drop(s, new StreamError(`${site}: HTTPS connection closed for a new circuit`));
    }
  }

  /** "New identity" (or the client closing): every session closes. */
  forgetAll(): void {
    for (const s of [...this.sessions.values()]) this.drop(s, new StreamError('HTTPS connection closed for a new identity'));
  }

  private drop(s: PooledSession, reason: TelescopeError): void {
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
    closeSession(s, reason);
  }

  /** Close the least recently used idle session; false if none is idle. */
  private evictIdle(): boolean {
    let oldest: PooledSession | undefined;
    for (const s of this.sessions.values()) {
      if (s.transfers.size === 0 && (!oldest || s.lastUsed < oldest.lastUsed)) oldest = s;
    }
    if (!oldest) return false;
    this.drop(oldest, new StreamError('HTTPS session closed to make room for another site'));
    return true;
  }
}

interface Prepared {
  readonly rt: Runtime;
  readonly headers: Record<string, string>;
  readonly bundle: { ptr: number; len: number } | undefined;
  /** Names the CA set: '' for the plain roots. */
  readonly caKey: string;
}

/** Checks the request and loads libcurl.js; nothing touches the network yet. */
async function prepare(request: HttpRequest, options: HttpsOptions): Promise<Prepared> {
  const { method, url } = request;
  if (url.protocol !== 'https:') throw new UsageError(`httpsRequest is for https: URLs, not ${url.protocol}`);
  if (!TOKEN.test(method)) throw new ProtocolError('HTTPS request', `"${method.slice(0, 20)}" is not a method name`);
  if (url.username || url.password) throw new UsageError('credentials in https: URLs are not sent');
  const headers = requestHeaders(request);
  const extra = options.extraCaPem?.filter((p) => p.trim() !== '') ?? [];
  const rt = await loadRuntime();
  if (extra.length && !rt.ca) throw new UsageError('this libcurl.js build does not let extra CA certificates be added');
  const bundle = rt.ca && extra.length ? caBundle(rt.ca, extra) : undefined;
  // Bundles are made once per set of certificates and kept: the address names the set.
  return { rt, headers, bundle, caKey: bundle ? `ca@${bundle.ptr}` : '' };
}

async function runTransfer(s: PooledSession, prepared: Prepared, request: HttpRequest, options: HttpsOptions): Promise<HttpResponse> {
  const { method, url, body } = request;
  const { rt, bundle } = prepared;
  // An older failure belongs to an older request; with others in flight it may be theirs, so keep it.
  if (s.transfers.size === 0) s.context.failure = undefined;
  const transfer = new Transfer();
  const abort = new AbortController();
  s.transfers.set(transfer, abort);
  const failure = () => transfer.failure ?? s.context.failure;
  const failed = (e: unknown): TelescopeError => {
    if (transfer.endCode !== undefined && transfer.endCode > 0) return curlError(transfer.endCode, url, failure());
    if (e instanceof TelescopeError) return e;
    return failure() ?? new TelescopeError(`HTTPS request to ${url.host} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  };
  try {
    const params: Record<string, unknown> = {
      method,
      headers: prepared.headers,
      // Redirects are the caller's (the onion tab rewrites and isolates them).
      redirect: 'manual',
      proxy: `socks5h://${s.proxyId}${PROXY_DOMAIN}:${PROXY_PORT}`,
      signal: abort.signal,
    };
    // A body, even an empty one, for everything but GET and HEAD: curl then sends Content-Length.
    const payload = body ?? (/^(GET|HEAD)$/.test(method) ? null : new Uint8Array(0));
    const start = () => s.session.start(url.href, params, payload, transfer);
    const started = rt.ca && bundle ? withCaBundle(rt.ca, bundle, start) : start();
    // curl, told "HEAD" as a custom method, would wait for the body the head announces: a HEAD
    // response is complete with its head, and its transfer is aborted after it (curl then closes
    // that connection rather than reuse it).
    const done = started.then((stream) => ({ stream: stream as ReadableStream<Uint8Array> | null }), (e: unknown) => { throw failed(e); });
    done.catch(() => {}); // a HEAD may be answered before curl gives up on its body
    const result = method === 'HEAD' ? await Promise.race([done, transfer.headComplete.then(() => ({ stream: null }))]) : await done;
    const responseBody = await readBody(result.stream, options.maxBodyBytes ?? DEFAULT_MAX_BODY, url).catch((e: unknown) => { throw failed(e); });
    // libcurl.js closes the body stream on errors too: only curl's code tells a cut-off body.
    if (transfer.endCode !== undefined && transfer.endCode > 0) throw curlError(transfer.endCode, url, failure());
    if (transfer.failure) throw transfer.failure;
    const { status, statusText, headers } = transfer.head;
    if (status < 100) throw new ProtocolError('HTTPS response', `${url.host}: no status line`);
    return { status, statusText, headers: responseHeaders(headers), body: responseBody };
  } finally {
    s.transfers.delete(transfer);
    // A transfer left unfinished (HEAD, a body over the limit, an error of ours) is removed from
    // the session, which also stops curl from reusing its connection mid-response.
    if (transfer.endCode === undefined && !s.context.closed) abort.abort();
  }
}

/**
 * One HTTPS request over Tor streams opened with `open`, in a session of its own (closed after
 * it); TLS is verified against the Mozilla roots. HttpsPool.request keeps sessions per site.
 */
export async function httpsRequest(open: StreamOpener, request: HttpRequest, options: HttpsOptions = {}): Promise<HttpResponse> {
  const prepared = await prepare(request, options);
  const s = openSession(prepared.rt, '', open);
  try {
    return await runTransfer(s, prepared, request, options);
  } finally {
    closeSession(s, new StreamError('the request is over'));
  }
}
