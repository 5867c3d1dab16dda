import { TelescopeError } from '../../shared/errors.ts';
import type { HttpRequest, HttpResponse } from '../../shared/http/http1.ts';
import type { TorStream } from '../../shared/stream/stream.ts';

/** Opens a Tor stream to host:port (on the circuit of the request's first-party site). */
export type StreamOpener = (host: string, port: number) => Promise<TorStream>;

/** HTTPS over Tor streams: TLS runs in the worker, on top of the stream. */
export async function httpsRequest(_open: StreamOpener, request: HttpRequest): Promise<HttpResponse> {
  throw new TelescopeError(`${request.url.href}: HTTPS through Tor is not supported yet`);
}
