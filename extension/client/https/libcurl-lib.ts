/**
 * libcurl.js, imported statically for the service worker (where import() is not allowed). Only
 * the JavaScript glue is evaluated here; the WebAssembly (curl, Mbed TLS, the Mozilla roots) is
 * fetched from the extension package and compiled when the first HTTPS request needs it
 * (runtime.ts), so a worker that restarts every 30 s of idleness does not pay for it each time.
 */
import { restoreGlobals } from './libcurl-env.ts';
import { libcurl } from 'libcurl.js';
import libcurlWasmUrl from 'libcurl.js/libcurl.wasm?url';

restoreGlobals();

export { libcurl, libcurlWasmUrl };
