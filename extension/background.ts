/**
 * The extension's background service worker. For now it hosts the protocol core's self-check, so
 * the core is proven in the real service-worker environment (not only a page); the Tor client
 * moves in here with the extension issue.
 */
import { runSelfcheck } from '../shared/selfcheck.ts';

declare const self: ServiceWorkerGlobalScope & { telescope?: unknown };

/** A handle for tests and for debugging from the service worker's DevTools console. */
self.telescope = { runSelfcheck };
