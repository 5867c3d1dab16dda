/**
 * The extension's background service worker: it hosts the Tor client (extension/client/service.ts)
 * and, for tests and debugging from the worker's DevTools console, exposes `self.telescope`.
 * The onion tab, popup and settings pages come with the rest of the extension issue; until then
 * the client is started with explicit settings (bridge lines and authorities), which it keeps.
 */
import { runSelfcheck } from '../shared/selfcheck.ts';
import { toHex } from '../shared/bytes/util.ts';
import type { BootstrapStatus } from '../shared/client/tor-client.ts';
import type { Logger } from '../shared/log.ts';
import { ExtensionClient, type ExtensionSettings } from './client/service.ts';
import { IdbStore } from './client/idb-store.ts';
import browser from 'webextension-polyfill';
import { installNetworkRules, listenToOmnibox } from './onion-routing.ts';
import { handleWebFetch } from './client/web-proxy.ts';

declare const self: ServiceWorkerGlobalScope & { telescope?: unknown };

const logLines: string[] = [];
const log: Logger = {
  debug: () => {},
  info: (m) => logLines.push(`[info] ${m}`),
  notice: (m) => logLines.push(`[notice] ${m}`),
  warn: (m) => logLines.push(`[warn] ${m}`),
};

let client: ExtensionClient | undefined;
let starting: Promise<BootstrapStatus> | undefined;
let status: BootstrapStatus = { percent: 0, tag: 'starting', summary: 'Not started' };

const SETTINGS_KEY = 'settings';

/** Start (or restart) the Tor client with these settings, and keep them for the next worker start. */
async function start(settings: ExtensionSettings): Promise<BootstrapStatus> {
  await browser.storage.local.set({ [SETTINGS_KEY]: settings });
  return run(settings);
}

function run(settings: ExtensionSettings): Promise<BootstrapStatus> {
  client?.close();
  const c = new ExtensionClient(settings, new IdbStore(), log, (s) => {
    status = s;
    log.notice(`Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`);
  });
  client = c;
  starting = c.bootstrap().then(() => status);
  return starting;
}

/**
 * Chromium stops idle service workers; when this one starts again it resumes with the saved
 * settings, and the client finds its consensus, microdescriptors and guards in IndexedDB instead
 * of bootstrapping from scratch.
 */
async function resume(): Promise<void> {
  const saved = (await browser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY] as ExtensionSettings | undefined;
  if (!saved || client) return;
  log.notice('worker restarted: resuming the Tor client with the saved settings');
  await run(saved);
}

async function ready(): Promise<ExtensionClient> {
  if (!client) await resume();
  if (starting) await starting;
  if (!client) throw new Error('the Tor client is not configured: no bridge and authorities yet');
  return client;
}

async function fetchThroughTor(url: string, isolationKey = new URL(url).host): Promise<{ status: number; length: number; sha256: string; text: string; circuit: string[] }> {
  const r = await (await ready()).fetch(url, isolationKey);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', r.body as Uint8Array<ArrayBuffer>));
  return { status: r.status, length: r.body.length, sha256: toHex(digest), text: new TextDecoder().decode(r.body.subarray(0, 200)), circuit: r.circuit };
}

self.telescope = { runSelfcheck, start, fetch: fetchThroughTor, status: () => status, log: () => logLines.slice(-200) };

// The onion tab's pages and their subresources, fetched through Tor.
self.addEventListener('fetch', (event: FetchEvent) => {
  handleWebFetch(event, ready);
});

resume().catch((e: unknown) => log.warn(`could not resume the Tor client: ${e instanceof Error ? e.message : String(e)}`));

async function popupState(site: string | undefined) {
  const saved = (await browser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY] as ExtensionSettings | undefined;
  const bridge = saved?.bridges[0]?.split(/\s+/).slice(0, 3).join(' ');
  return { status, bridge, site, circuit: site ? client?.circuitFor(site) : undefined };
}

// Messages from the extension's own pages (the status page today; the onion tab and popup later).
browser.runtime.onMessage.addListener((message: unknown, sender: browser.Runtime.MessageSender) => {
  if (sender.id !== browser.runtime.id) return undefined;
  const m = message as { type?: string; url?: string };
  if (m.type === 'status') return Promise.resolve(status);
  if (m.type === 'popup') return popupState(typeof (m as { site?: unknown }).site === 'string' ? (m as { site: string }).site : undefined);
  if (m.type === 'new-circuit' && typeof (m as { site?: unknown }).site === 'string') {
    client?.client.circuits.dropIsolation((m as { site: string }).site);
    return Promise.resolve({ ok: true });
  }
  if (m.type === 'new-identity') {
    // Every circuit goes; the next page of every site gets a fresh one. (Cookies join this once
    // the onion tab keeps them.)
    client?.client.newIdentity();
    return Promise.resolve({ ok: true });
  }
  if (m.type === 'fetch' && typeof m.url === 'string') {
    return fetchThroughTor(m.url).catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));
  }
  return undefined;
});

listenToOmnibox();
browser.runtime.onInstalled.addListener(() => {
  installNetworkRules().catch((e: unknown) => log.warn(`could not install the network rules: ${e instanceof Error ? e.message : String(e)}`));
});
