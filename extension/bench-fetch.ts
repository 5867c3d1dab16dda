/**
 * A timed HTTP GET for `npm run bench -- extension`, exposed as `self.telescope.fetchTimed`. The
 * ordinary fetch (ExtensionClient.request → httpRequest) returns only once the whole body is in,
 * so it cannot tell when the first body byte came; this reads the Tor stream itself, chunk by
 * chunk, and notes the time of the first body byte and of the stream's end. The request is the
 * one bench/transfer.ts sends through tor's SOCKS port, so both clients ask for the same bytes.
 */
import type { TorClient } from '../shared/client/index.ts';
import { parseResponseHead } from '../shared/http/index.ts';
import { toHex } from '../shared/bytes/index.ts';
import { ProtocolError, UsageError } from '../shared/util/index.ts';

export interface TimedFetchResult {
  readonly status: number;
  /** Body bytes (the response head excluded). */
  readonly length: number;
  readonly sha256: string;
  /** From the start of `connect` (circuit chosen or built, BEGIN, CONNECTED). */
  readonly connectMs: number;
  /** From the start of `connect` to the first body byte read from the stream. */
  readonly ttfbMs: number;
  /** From the start of `connect` to the end of the stream. */
  readonly totalMs: number;
  readonly circuit: string[];
}

/** Headers longer than this are not what the test web server sends: fail rather than buffer on. */
const MAX_HEAD = 64 * 1024;

function findHeadEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i + 4;
  }
  return -1;
}

export async function fetchTimed(client: Pick<TorClient, 'connect'>, url: string, isolationKey: string): Promise<TimedFetchResult> {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new UsageError(`fetchTimed: only http: URLs, not ${u.protocol}`);
  const t0 = performance.now();
  const { stream, circuit } = await client.connect(u.hostname, Number(u.port || 80), { isolationKey });
  const connectMs = performance.now() - t0;
  const parts: Uint8Array[] = [];
  let ttfbMs: number | undefined;
  let head: Uint8Array | undefined = new Uint8Array(0);
  let status = 0;
  try {
    await stream.write(new TextEncoder().encode(`GET ${u.pathname}${u.search} HTTP/1.0\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
    for (let chunk = await stream.read(); chunk; chunk = await stream.read()) {
      if (head === undefined) {
        if (chunk.length > 0) ttfbMs ??= performance.now() - t0;
        parts.push(chunk);
        continue;
      }
      const joined: Uint8Array = new Uint8Array(head.length + chunk.length);
      joined.set(head);
      joined.set(chunk, head.length);
      const end = findHeadEnd(joined);
      if (end < 0) {
        if (joined.length > MAX_HEAD) throw new ProtocolError('fetchTimed', `no end of the response head in ${joined.length} bytes`);
        head = joined;
        continue;
      }
      status = parseResponseHead(joined, 'fetchTimed').status;
      head = undefined;
      if (end < joined.length) {
        ttfbMs = performance.now() - t0;
        parts.push(joined.subarray(end));
      }
    }
  } finally {
    stream.close();
  }
  const totalMs = performance.now() - t0;
  if (head !== undefined) throw new ProtocolError('fetchTimed', `stream ended within the response head (${head.length} bytes)`);
  const length = parts.reduce((n, p) => n + p.length, 0);
  const body = new Uint8Array(length);
  let o = 0;
  for (const p of parts) { body.set(p, o); o += p.length; }
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', body));
  return {
    status,
    length,
    sha256: toHex(digest),
    connectMs,
    ttfbMs: ttfbMs ?? totalMs,
    totalMs,
    circuit: circuit.path.map((r) => `${r.nickname}~${r.fingerprint.slice(0, 8)}`),
  };
}
