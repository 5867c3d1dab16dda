/** http: HTTP/1.1 over a Tor stream (request/response heads, bodies) and the extension's proxy URLs. */
export * from './http1.ts';
export * from './proxy-url.ts';
