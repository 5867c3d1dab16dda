import { concatBytes } from '../bytes/index.ts';
import { ProtocolError, TelescopeError, type ErrorKind } from '../util/index.ts';
import type { TorStream } from '../stream/index.ts';
import { parseResponseHead } from '../http/index.ts';

/**
 * Directory requests are HTTP/1.0 over a BEGIN_DIR stream (dir-spec "HTTP status codes" and
 * "Directory cache operation"): one GET, then the server closes the stream. Bodies may be
 * deflate- or gzip-compressed; DecompressionStream exists in both the service worker and Node.
 */

export class DirectoryHttpError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'directory-request-failed';
  constructor(readonly path: string, readonly status: number, reason: string) {
    super(`directory request ${path}: HTTP ${status} ${reason}`);
  }
}

export interface DirResponse {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyMap<string, string>;
  /** The body, decompressed. */
  readonly body: Uint8Array;
  /** Bytes as they came over the wire (head and compressed body): what the fetch cost. */
  readonly wireBytes: number;
}

const MAX_DIR_BODY = 32 * 1024 * 1024;

/** Split a raw HTTP/1.0 response into status, headers and (decompressed) body. */
export async function parseHttpResponse(raw: Uint8Array, context: string): Promise<DirResponse> {
  const { status, statusText, headers, bodyStart } = parseResponseHead(raw, context);
  let body = raw.subarray(bodyStart);
  const encoding = (headers.get('content-encoding') ?? 'identity').toLowerCase();
  if (encoding === 'deflate' || encoding === 'gzip' || encoding === 'x-gzip') {
    body = await decompress(body, encoding === 'deflate' ? 'deflate' : 'gzip', context);
  } else if (encoding !== 'identity') {
    throw new ProtocolError(context, `unsupported Content-Encoding ${encoding}`);
  }
  return { status, reason: statusText, headers, body, wireBytes: raw.length };
}

async function decompress(data: Uint8Array, format: 'deflate' | 'gzip', context: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream(format));
    const out = new Uint8Array(await new Response(stream).arrayBuffer());
    if (out.length > MAX_DIR_BODY) throw new ProtocolError(context, `decompressed body over ${MAX_DIR_BODY} bytes`);
    return out;
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(context, `bad ${format} body: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * What we tell caches we can decompress (dir-spec "Compression"; tor's caches pick the best
 * method both sides know, among deflate, gzip, x-zstd and x-tor-lzma). Deflate is what every
 * platform decompresses natively (DecompressionStream); zstd would save 14% on a full consensus
 * and about half on microdescriptor answers but needs a JavaScript decoder in the service worker
 * (bench/dir-compression.ts measures it).
 */
export const DIR_ACCEPT_ENCODING = 'deflate, gzip, identity';

/** Extra request headers (name → value), e.g. X-Or-Diff-From-Consensus. */
export type DirRequestHeaders = Readonly<Record<string, string>>;

/** GET `path` over an open directory stream: the whole 200 answer (headers, body, bytes on the wire). */
export async function dirGetResponse(stream: TorStream, path: string, headers: DirRequestHeaders = {}): Promise<DirResponse> {
  // No Host: dir-spec.
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  await stream.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nAccept-Encoding: ${DIR_ACCEPT_ENCODING}\r\n${extra}\r\n`));
  const raw = await stream.readAll(MAX_DIR_BODY);
  const res = await parseHttpResponse(raw, `directory response for ${path}`);
  if (res.status !== 200) throw new DirectoryHttpError(path, res.status, res.reason);
  return res;
}

/** GET `path` over an open directory stream and return the body of a 200 answer. */
export async function dirGet(stream: TorStream, path: string, headers: DirRequestHeaders = {}): Promise<Uint8Array> {
  return (await dirGetResponse(stream, path, headers)).body;
}

/**
 * POST `body` to `path` over an open directory stream (an onion service publishing its
 * descriptor to an HSDir: /tor/hs/3/publish). Resolves on 200; any other answer is an error.
 */
export async function dirPost(stream: TorStream, path: string, body: Uint8Array): Promise<void> {
  const head = new TextEncoder().encode(`POST ${path} HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n`);
  await stream.write(concatBytes(head, body));
  const res = await parseHttpResponse(await stream.readAll(1024 * 1024), `directory response for POST ${path}`);
  if (res.status !== 200) throw new DirectoryHttpError(`POST ${path}`, res.status, res.reason);
}
