import type { HTTPSession } from 'libcurl.js';
import { TelescopeError, UsageError } from '../../../shared/util/index.ts';
import { findCaBlob, type CaStore, type WasmExports } from './ca-bundle.ts';
import { libcurl, libcurlWasmUrl } from './libcurl-lib.ts';
import { TorSocket } from './tor-socket.ts';
import type { Transfer } from './transfer.ts';

/**
 * libcurl.js started once per worker: its WebAssembly loaded (and caught as it is made, for the CA
 * store), its sockets made TorSockets, and a Session class whose transfers report to a Transfer
 * each instead of to the session's shared callbacks.
 */

export interface Runtime {
  readonly Session: new () => TorSession;
  /** Undefined if this libcurl.js build's CA blob could not be found: extra CAs are then refused. */
  readonly ca: CaStore | undefined;
}

export interface TorSession extends HTTPSession {
  /** Starts one transfer (synchronously, as request_async does) that reports to `transfer`. */
  start(url: string, params: Record<string, unknown>, body: Uint8Array | null, transfer: Transfer): Promise<unknown>;
  /** Transfers started and not yet ended or removed. */
  readonly active_requests: number;
}

let runtime: Promise<Runtime> | undefined;

export function loadRuntime(): Promise<Runtime> {
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
