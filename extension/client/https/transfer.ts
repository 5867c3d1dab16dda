import { concatBytes } from '../../../shared/bytes/index.ts';
import { CertificateError, HandshakeError, ProtocolError, StreamError, TelescopeError, UsageError } from '../../../shared/util/index.ts';
import type { HttpRequest, HttpResponse } from '../../../shared/http/index.ts';
import { caBundle, withCaBundle } from './ca-bundle.ts';
import { libcurl } from './libcurl-lib.ts';
import { loadRuntime, type Runtime } from './runtime.ts';
import { closeSession, openSession, type PooledSession } from './session.ts';
import { proxyUrl, type StreamOpener } from './streams.ts';

/**
 * One HTTPS request on a curl session: checked and prepared (headers, the CA set), run as one
 * curl transfer whose head and end code are collected per request, and its body read under a
 * limit; curl's error codes become typed errors, explained by what went wrong on our side.
 */

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
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers curl sets itself (framing, decompression) or that belong to one connection. */
const CURL_OWNED = /^(host|connection|keep-alive|proxy-connection|upgrade|te|accept-encoding|content-length|transfer-encoding|expect)$/i;

/** What one transfer of a session learns; curl's callbacks are per session, this is per request. */
export class Transfer {
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

/** curl result codes (libcurl-errors) that curlError tells apart. */
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

export interface Prepared {
  readonly rt: Runtime;
  readonly headers: Record<string, string>;
  readonly bundle: { ptr: number; len: number } | undefined;
  /** Names the CA set: '' for the plain roots. */
  readonly caKey: string;
}

/** Checks the request and loads libcurl.js; nothing touches the network yet. */
export async function prepare(request: HttpRequest, options: HttpsOptions): Promise<Prepared> {
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

export async function runTransfer(s: PooledSession, prepared: Prepared, request: HttpRequest, options: HttpsOptions): Promise<HttpResponse> {
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
      proxy: proxyUrl(s.proxyId),
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
