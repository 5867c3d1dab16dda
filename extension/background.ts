/**
 * The extension's background service worker: it hosts the Tor client (extension/client/service.ts)
 * and, for tests and debugging from the worker's DevTools console, exposes `self.telescope`.
 * The client runs with the settings page's bridge and DirAuthority lines ('settings-set'; without
 * DirAuthority lines, the built-in public authorities), kept in extension storage for the worker's
 * next start; pages follow bootstrapping through 'status',
 * whose `problem` says what to fix when it is stuck.
 */
import { runSelfcheck } from '../shared/selfcheck.ts';
import { toHex } from '../shared/bytes/index.ts';
import type { BootstrapStatus } from '../shared/client/index.ts';
import type { Logger } from '../shared/util/index.ts';
import { builtinAuthoritySet, describeAuthoritySet, ExtensionClient, parseSettings, type AuthoritySetInUse, type ExtensionSettings } from './client/service.ts';
import { classifyBootstrapFailure, noBridgeProblem } from '../shared/client/index.ts';
import { ConfigError } from '../shared/config/index.ts';
import { TelescopeError } from '../shared/util/index.ts';
import { IdbStore } from './client/idb-store.ts';
import browser from 'webextension-polyfill';
import { installNetworkRules, listenToNavigations, listenToOmnibox, startedByPerson } from './onion-routing.ts';
import { clearCookies, handleWebFetch } from './client/web-proxy.ts';
// Benchmark hooks for `npm run bench -- extension`. Imported statically: import() is not allowed in
// a service worker, and both modules only define functions, so startup pays nothing to evaluate them.
import { benchCrypto } from './bench-crypto.ts';
import { benchDirectory } from './bench-directory.ts';
import { fetchTimed } from './bench-fetch.ts';

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
  let c: ExtensionClient;
  try {
    c = new ExtensionClient(settings, new IdbStore(), log, (s) => {
      // A client being replaced may still report its last failure: only the current one speaks.
      if (client !== c) return;
      status = s;
      log.notice(`Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`);
    });
  } catch (e) {
    status = { percent: 0, tag: 'starting', summary: 'Not started', problem: classifyBootstrapFailure(e, { bridges: [] }) };
    throw e;
  }
  // The client replaced finishes its writes to the shared store before the new one reads it.
  const replaced = client?.close() ?? Promise.resolve();
  client = c;
  status = { percent: 0, tag: 'starting', summary: 'Starting' };
  starting = replaced.then(() => c.bootstrap()).then(() => status, (e: unknown) => {
    // The client stopped retrying (its problem stays): the phase line says so, or it would read
    // as if bootstrapping still went on.
    if (client === c) status = { ...status, summary: `${status.summary}; stopped retrying (Save in Settings to try again)` };
    throw e;
  });
  return starting;
}

/**
 * Chromium stops idle service workers; when this one starts again it resumes with the saved
 * settings, and the client finds its consensus, microdescriptors and guards in IndexedDB instead
 * of bootstrapping from scratch.
 */
let resuming: Promise<void> | undefined;
function resume(): Promise<void> {
  // The worker's first event (a page's fetch, a message) and its top-level code both resume:
  // one client, not two racing for the same IndexedDB.
  resuming ??= (async () => {
    const saved = await savedSettings();
    if (client) return;
    if (!saved) {
      status = { ...status, problem: noBridgeProblem() };
      return;
    }
    log.notice('worker restarted: resuming the Tor client with the saved settings');
    await run(saved);
  })();
  return resuming;
}

async function savedSettings(): Promise<ExtensionSettings | undefined> {
  return (await browser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY] as ExtensionSettings | undefined;
}

/**
 * The settings page's Save: settings that parse are kept and the client restarts with them at
 * once (bootstrapping goes on in the background; pages follow it through 'status').
 */
async function applySettings(value: unknown): Promise<{ ok: true } | { ok: false; error: string }> {
  const v = value as Partial<ExtensionSettings> | undefined;
  const isLines = (x: unknown): x is string[] => Array.isArray(x) && x.every((l) => typeof l === 'string');
  if (!isLines(v?.bridges) || !isLines(v?.authorities)) return { ok: false, error: 'settings must be lists of bridge and DirAuthority lines' };
  if (v.onionAuth !== undefined && !isLines(v.onionAuth)) return { ok: false, error: 'onion client keys must be a list of lines' };
  const settings: ExtensionSettings = { bridges: v.bridges, authorities: v.authorities, ...(v.onionAuth?.length ? { onionAuth: v.onionAuth } : {}) };
  try {
    parseSettings(settings);
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: e.message };
    throw e;
  }
  await browser.storage.local.set({ [SETTINGS_KEY]: settings });
  log.notice('settings changed: restarting the Tor client');
  run(settings).catch((e: unknown) => log.warn(`bootstrap with the new settings failed: ${e instanceof Error ? e.message : String(e)}`));
  return { ok: true };
}

/**
 * The authorities the running client checks the consensus against; before any client runs (no
 * bridge yet), the built-in ones, which a bridge line alone would use.
 */
function authoritiesInUse(): { kind: AuthoritySetInUse['kind']; text: string } {
  const set = client?.authoritySet ?? builtinAuthoritySet();
  return { kind: set.kind, text: describeAuthoritySet(set) };
}

async function ready(): Promise<ExtensionClient> {
  if (!client) await resume();
  if (starting) await starting;
  if (!client) throw new ConfigError('the Tor client is not configured: no bridge line yet (Settings)');
  return client;
}

async function fetchThroughTor(url: string, isolationKey = new URL(url).host): Promise<{ status: number; length: number; sha256: string; text: string; circuit: string[] }> {
  const r = await (await ready()).fetch(url, isolationKey);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', r.body as Uint8Array<ArrayBuffer>));
  return { status: r.status, length: r.body.length, sha256: toHex(digest), text: new TextDecoder().decode(r.body.subarray(0, 200)), circuit: r.circuit };
}

self.telescope = {
  runSelfcheck,
  start,
  fetch: fetchThroughTor,
  status: () => status,
  log: () => logLines.slice(-200),
  benchCrypto: (megabytes: number) => benchCrypto(megabytes),
  fetchTimed: async (url: string, isolationKey = new URL(url).host) => fetchTimed((await ready()).client, url, isolationKey),
  // Read-only figures for npm run bench -- bootstrap.
  linkBytesRead: () => client?.linkBytesRead ?? 0,
  benchDirectory: async (v3idents: string[]) => benchDirectory((await ready()).client.directory, v3idents),
};

// The onion tab's pages and their subresources, fetched through Tor.
self.addEventListener('fetch', (event: FetchEvent) => {
  handleWebFetch(event, ready);
});

resume().catch((e: unknown) => log.warn(`could not resume the Tor client: ${e instanceof Error ? e.message : String(e)}`));

async function popupState(site: string | undefined) {
  const saved = (await browser.storage.local.get(SETTINGS_KEY))[SETTINGS_KEY] as ExtensionSettings | undefined;
  const bridge = saved?.bridges[0]?.split(/\s+/).slice(0, 3).join(' ');
  return { status, bridge, authorities: authoritiesInUse(), site, circuit: site ? client?.circuitFor(site) : undefined };
}

// Messages from the extension's own pages (the status page today; the onion tab and popup later).
browser.runtime.onMessage.addListener((message: unknown, sender: browser.Runtime.MessageSender) => {
  if (sender.id !== browser.runtime.id) return undefined;
  const m = message as { type?: string; url?: string };
  if (m.type === 'status') return Promise.resolve(status);
  if (m.type === 'onion-phase' && typeof (m as { host?: unknown }).host === 'string') {
    return Promise.resolve(client?.onionPhase((m as { host: string }).host) ?? null);
  }
  if (m.type === 'onion-landing' && typeof m.url === 'string') {
    const intent = (m as { intent?: unknown }).intent;
    return startedByPerson(sender.tab?.id, m.url, typeof intent === 'string' ? intent : undefined).then((byPerson) => ({ byPerson }));
  }
  if (m.type === 'settings-get') return savedSettings().then((settings) => ({ ...(settings ? { settings } : {}), authorities: authoritiesInUse() }));
  if (m.type === 'settings-set') return applySettings((m as { settings?: unknown }).settings);
  if (m.type === 'popup') return popupState(typeof (m as { site?: unknown }).site === 'string' ? (m as { site: string }).site : undefined);
  if (m.type === 'new-circuit' && typeof (m as { site?: unknown }).site === 'string') {
    client?.client.circuits.dropIsolation((m as { site: string }).site);
    client?.forgetSite((m as { site: string }).site);
    return Promise.resolve({ ok: true });
  }
  if (m.type === 'new-identity') {
    // Every circuit and every cookie goes; the next page of every site starts as a stranger.
    client?.client.newIdentity();
    client?.forgetAll();
    return clearCookies().then(() => ({ ok: true }));
  }
  if (m.type === 'fetch' && typeof m.url === 'string') {
    // The kind travels with the words, so that a page can decide on it.
    return fetchThroughTor(m.url).catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e), ...(e instanceof TelescopeError ? { kind: e.kind } : {}) }));
  }
  return undefined;
});

listenToOmnibox();
listenToNavigations();
browser.runtime.onInstalled.addListener(() => {
  installNetworkRules().catch((e: unknown) => log.warn(`could not install the network rules: ${e instanceof Error ? e.message : String(e)}`));
});
