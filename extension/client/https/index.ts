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
export { parsePemCertificates } from './ca-bundle.ts';
export { HttpsPool, type HttpsPoolOptions } from './pool.ts';
export type { ByteStream, StreamOpener } from './streams.ts';
export { httpsRequest, type HttpsOptions } from './transfer.ts';
