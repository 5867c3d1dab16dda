import { ProtocolError } from '../errors.ts';
import type { TorStream } from '../stream/stream.ts';

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

const MAX_HEADER = 64 * 1024;

export async function httpGet(stream: TorStream, url: URL, extraHeaders: Record<string, string> = {}): Promise<HttpResponse> {
  if (url.protocol !== 'http:') throw new ProtocolError('HTTP request', `${url.protocol} needs TLS over the stream; only http: here`);
  const headers = { Host: url.host, Connection: 'close', 'Accept-Encoding': 'identity', ...extraHeaders };
  const head = `GET ${url.pathname}${url.search} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  await stream.write(new TextEncoder().encode(head));
  return readResponse(stream);
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

export async function readResponse(stream: TorStream): Promise<HttpResponse> {
  const raw = await stream.readAll();
  const end = indexOfCrlfCrlf(raw);
  if (end < 0) throw new ProtocolError('HTTP response', raw.length > MAX_HEADER ? 'header too long' : 'stream ended inside the header');
  const lines = new TextDecoder('latin1').decode(raw.subarray(0, end)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new ProtocolError('HTTP response', `bad status line "${(lines[0] ?? '').slice(0, 60)}"`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) body = dechunk(body);
  else if (headers.has('content-length')) {
    const n = Number(headers.get('content-length'));
    if (!Number.isSafeInteger(n) || n < 0) throw new ProtocolError('HTTP response', `bad Content-Length ${headers.get('content-length')}`);
    if (body.length < n) throw new ProtocolError('HTTP response', `body ended after ${body.length} of ${n} bytes`);
    body = body.subarray(0, n);
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers, body };
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
