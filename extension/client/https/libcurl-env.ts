/**
 * libcurl.js's emscripten glue decides when it is imported whether it runs in a page or a worker,
 * and throws anywhere else. The service worker must import it statically (import() is not allowed
 * in a ServiceWorkerGlobalScope), so every module that imports service.ts evaluates the glue too:
 * extension pages (a window: fine) and Node (vitest, tools), where it would throw. There, and only
 * until libcurl-lib.ts calls restoreGlobals() right after the import, the glue is shown a worker's
 * globals and not Node's version; it loads no WebAssembly until an HTTPS request needs it.
 */
const g = globalThis as Record<string, unknown>;
const undo: (() => void)[] = [];

if (typeof g['window'] !== 'object' && typeof g['importScripts'] !== 'function') {
  g['importScripts'] = () => {
    throw new Error('importScripts is a placeholder for libcurl.js outside a worker');
  };
  undo.push(() => delete g['importScripts']);
  if (g['self'] === undefined) {
    g['self'] = { location: { href: 'file:///' } };
    undo.push(() => delete g['self']);
  }
  const versions = (g['process'] as { versions?: Record<string, unknown> } | undefined)?.versions;
  const node = versions ? Object.getOwnPropertyDescriptor(versions, 'node') : undefined;
  if (versions && node?.configurable) {
    Object.defineProperty(versions, 'node', { value: undefined, configurable: true });
    undo.push(() => Object.defineProperty(versions, 'node', node));
  }
}

export function restoreGlobals(): void {
  for (const f of undo.splice(0).reverse()) f();
}
