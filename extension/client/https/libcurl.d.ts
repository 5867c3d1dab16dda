/**
 * The parts of libcurl.js (curl + Mbed TLS compiled to WebAssembly, npm package `libcurl.js`) that
 * the HTTPS client in this folder uses. The package ships no types; these follow its README and
 * its libcurl.mjs (0.7.4). Methods of HTTPSession that are not in the README (request_async,
 * create_request, create_response) are internals that runtime.ts overrides or calls on purpose.
 */
declare module 'libcurl.js' {
  /** A WebSocket-shaped class; emscripten's socket layer creates one per TCP connection. */
  export type LibcurlTransport = new (url: string) => unknown;

  /** One response as HTTPSession.request_async hands it to create_response. */
  export interface LibcurlResponseInfo {
    status: number;
    url: string;
    /** [name, value] pairs of the final response, in order, names as received. */
    headers: [string, string][];
    redirected: boolean;
  }

  export class HTTPSession {
    constructor(options?: { proxy?: string; enable_cookies?: boolean });
    /** Connection limits: total, cached, per host. */
    set_connections(connections: number, cache: number, perHost?: number): void;
    /**
     * Starts one transfer. Synchronously (before it returns) the curl easy handle is created and its
     * options set; the promise settles with create_response's value once the head is in.
     */
    request_async(url: string, params: Record<string, unknown>, body: Uint8Array | null): Promise<unknown>;
    /** Creates the curl easy handle (CURLOPT_CAINFO_BLOB is copied from the global blob here). */
    create_request(
      url: string,
      onData: (chunk: Uint8Array) => void,
      onEnd: (curlCode: number) => void,
      onHeader: (line: Uint8Array) => void,
    ): number;
    /** Closes every connection of the session (on a later task) and frees it. */
    close(): void;
    /** Frees the session now: removes and cleans up every request still in requests_list. */
    close_now(): void;
    /** Removes one request from the session and frees its curl handle. */
    remove_request_now(request: number): void;
    /** The setInterval that drives curl_multi_perform while transfers are active. */
    event_loop: ReturnType<typeof setInterval> | null;
    /** Transfers started whose end has not been reported (drives the event loop). */
    active_requests: number;
    /** Curl handles started and not yet removed. */
    requests_list: number[];
    static create_response(body: ReadableStream<Uint8Array> | null, info: LibcurlResponseInfo): unknown;
  }

  export const libcurl: {
    /** Compiles and starts the WebAssembly module fetched from `url` (resolves once ready). */
    load_wasm(url: string): Promise<void> | undefined;
    readonly ready: boolean;
    set_websocket(url: string): void;
    transport: 'wisp' | 'wsproxy' | LibcurlTransport;
    get_error_string(code: number): string;
    get_cacert(): string;
    readonly version: Record<string, unknown> | null;
    logger: (type: 'log' | 'warn' | 'error', text: string) => void;
    stdout: (text: string) => void;
    stderr: (text: string) => void;
    HTTPSession: typeof HTTPSession;
  };
}

declare module 'libcurl.js/libcurl.wasm?url' {
  /** Where the bundler put libcurl.wasm (vite's `?url` import). */
  const url: string;
  export default url;
}
