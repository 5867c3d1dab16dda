import { concatBytes } from '../bytes/index.ts';
import { ProtocolError } from '../util/index.ts';
import type { TorStream } from '../stream/index.ts';

/**
 * A minimal HTTP/1.1 client over one Tor stream (RFC 9112): one request, `Connection: close`,
 * bodies delimited by Content-Length, chunked encoding or the end of the stream. The onion tab's
 * full browsing layer builds on this; HTTPS goes through a TLS layer on top of the stream instead.
 */

export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

/** One request as the onion tab makes it: the body, if any, is sent with a Content-Length. */
export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  /** Header names as given; Host, Connection, Accept-Encoding and Content-Length are set here. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Send one request over a fresh stream (`Connection: close`) and read the whole response. */
export async function httpRequest(stream: TorStream, request: HttpRequest): Promise<HttpResponse> {
  const { method, url, body } = request;
  if (url.protocol !== 'http:') throw new ProtocolError('HTTP request', `${url.protocol} needs TLS over the stream; only http: here`);
  if (!TOKEN.test(method)) throw new ProtocolError('HTTP request', `"${method.slice(0, 20)}" is not a method name`);
  const headers: Record<string, string> = { Host: url.host, Connection: 'close', 'Accept-Encoding': 'identity' };
  for (const [k, v] of Object.entries(request.headers ?? {})) {
    // A header may not smuggle a second request: names are tokens, values have no line breaks.
    if (!TOKEN.test(k) || /[\r\n]/.test(v)) throw new ProtocolError('HTTP request', `bad header "${k.slice(0, 40)}"`);
    if (!/^(host|connection|accept-encoding|content-length|transfer-encoding)$/i.test(k)) headers[k] = v;
  }
  if (body !== undefined || !/^(GET|HEAD)$/.test(method)) headers['Content-Length'] = String(body?.length ?? 0);
  const head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const headBytes = new TextEncoder().encode(head);
  await stream.write(body?.length ? concatBytes(headBytes, body) : headBytes);
  return readResponse(stream, method === 'HEAD');
}

export function httpGet(stream: TorStream, url: URL, extraHeaders: Record<string, string> = {}): Promise<HttpResponse> {
  return httpRequest(stream, { method: 'GET', url, headers: extraHeaders });
}

/** The status line and headers of a raw response, and where its body starts. */
export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly bodyStart: number;
}

/**
 * Parse the head of a raw HTTP/1.x response (shared by the directory client and the onion tab).
 * Throws ProtocolError with `context` when there is no end of headers or the status line is bad.
 */
export function parseResponseHead(raw: Uint8Array, context: string): ResponseHead {
  let end = -1;
  for (let i = 0; i + 3 < raw.length; i++) {
    if (raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10) { end = i; break; }
  }
  if (end < 0) throw new ProtocolError(context, 'HTTP response without an end of headers');
  const lines = new TextDecoder('latin1').decode(raw.subarray(0, end)).split('\r\n');
  // The code is exactly three digits followed by a space or the end: "2000 OK" is not 200.
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new ProtocolError(context, `malformed HTTP status line "${(lines[0] ?? '').slice(0, 60)}"`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const name = l.slice(0, c).trim().toLowerCase();
    const value = l.slice(c + 1).trim();
    const before = headers.get(name);
    // A repeated header is one list (RFC 9110 §5.3), except Set-Cookie, whose values may contain
    // commas (Expires) and so are kept one per line.
    headers.set(name, before === undefined ? value : `${before}${name === 'set-cookie' ? '\n' : ', '}${value}`);
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers, bodyStart: end + 4 };
}

/** Read a whole response until the stream ends; a response to HEAD has no body whatever it says. */
export async function readResponse(stream: TorStream, headRequest = false): Promise<HttpResponse> {
  const raw = await stream.readAll();
  const { status, statusText, headers, bodyStart } = parseResponseHead(raw, 'HTTP response');
  let body = raw.subarray(bodyStart);
  if (headRequest || status === 204 || status === 304) body = body.subarray(0, 0);
  else if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) body = dechunk(body);
  else if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError('HTTP response', `bad Content-Length ${headers.get('content-length')}`);
    if (body.length < n) throw new ProtocolError('HTTP response', `body ended after ${body.length} of ${n} bytes`);
    body = body.subarray(0, n);
  }
  return { status, statusText, headers, body };
}

function dechunk(b: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (;;) {
    let lineEnd = pos;
    while (lineEnd + 1 < b.length && !(b[lineEnd] === 13 && b[lineEnd + 1] === 10)) lineEnd++;
    if (lineEnd + 1 >= b.length) throw new ProtocolError('HTTP chunked body', 'truncated chunk size');
    const size = parseInt(new TextDecoder('latin1').decode(b.subarray(pos, lineEnd)).split(';')[0]!.trim(), 16);
    if (!Number.isSafeInteger(size) || size < 0) throw new ProtocolError('HTTP chunked body', 'bad chunk size');
    pos = lineEnd + 2;
    if (size === 0) break;
    if (pos + size > b.length) throw new ProtocolError('HTTP chunked body', 'truncated chunk');
    parts.push(b.subarray(pos, pos + size));
    pos += size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
