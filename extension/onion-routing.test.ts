import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

/**
 * The network rules and the landing page's question "did the person start this?", with fake
 * extension globals. The browser's side (rules applied, webNavigation events) runs in
 * e2e/extension-onion.e2e.test.ts.
 */

const ID = 'abcdefghijklmnop';
const BASE = `chrome-extension://${ID}/`;
type CommitListener = (d: { tabId: number; frameId: number; url: string; transitionType: string; transitionQualifiers: string[] }) => void;
type StartListener = (d: { tabId: number; frameId: number; url: string }) => void;
let commit: CommitListener;
let start: StartListener;
let omnibox: (text: string) => void;
const updated: string[] = [];
let routing: typeof import('./onion-routing.ts');

beforeAll(async () => {
  const runtime = { id: ID, getURL: (p: string) => `${BASE}${p}` };
  vi.stubGlobal('chrome', { runtime });
  vi.stubGlobal('browser', {
    runtime,
    webNavigation: {
      onCommitted: { addListener: (l: CommitListener) => { commit = l; } },
      onBeforeNavigate: { addListener: (l: StartListener) => { start = l; } },
    },
    tabs: { onRemoved: { addListener: () => {} }, update: async (u: { url: string }) => { updated.push(u.url); } },
    omnibox: { onInputEntered: { addListener: (l: (t: string) => void) => { omnibox = l; } } },
  });
  vi.stubGlobal('location', new URL(BASE));
  routing = await import('./onion-routing.ts');
  routing.listenToNavigations();
  routing.listenToOmnibox();
});

afterEach(() => {
  vi.useRealTimers();
});

const LANDING = `${BASE}extension/pages/onion.html#http%3A%2F%2Fx.onion%2F`;

describe('network rules', () => {
  it('block every request and every navigation (main_frame and sub_frame) extension pages make to the network', () => {
    const rules = routing.networkRules() as { action: { type: string }; condition: { regexFilter: string; initiatorDomains?: string[]; resourceTypes?: string[] } }[];
    const blocks = rules.filter((r) => r.action.type === 'block');
    // A rule without resourceTypes matches every type except main_frame.
    const covers = (type: string) => blocks.some((r) => (r.condition.resourceTypes ? r.condition.resourceTypes.includes(type) : type !== 'main_frame')
      && r.condition.initiatorDomains?.includes(ID) && new RegExp(r.condition.regexFilter).test('http://127.0.0.1/'));
    for (const type of ['main_frame', 'sub_frame', 'image', 'stylesheet', 'font', 'xmlhttprequest', 'ping', 'media', 'other']) expect(covers(type), type).toBe(true);
    // The extension's own pages are no network address.
    for (const r of blocks) expect(new RegExp(r.condition.regexFilter).test(`${BASE}web/http/x.test/80/`)).toBe(false);
  });
});

describe('who started a navigation to an onion address', () => {
  it('the person, when the address bar committed it as typed', async () => {
    start({ tabId: 7, frameId: 0, url: 'http://x.onion/' });
    const asked = routing.startedByPerson(7, LANDING, undefined);
    commit({ tabId: 7, frameId: 0, url: LANDING, transitionType: 'typed', transitionQualifiers: ['server_redirect'] });
    expect(await asked).toBe(true);
  });

  it('a web page, when it was a link, a form or a refresh, or when nothing is reported', async () => {
    start({ tabId: 8, frameId: 0, url: 'http://x.onion/' });
    commit({ tabId: 8, frameId: 0, url: LANDING, transitionType: 'link', transitionQualifiers: ['server_redirect'] });
    expect(await routing.startedByPerson(8, LANDING, undefined)).toBe(false);
    commit({ tabId: 9, frameId: 0, url: LANDING, transitionType: 'typed', transitionQualifiers: ['client_redirect', 'server_redirect'] });
    expect(await routing.startedByPerson(9, LANDING, undefined)).toBe(false);
    // A typed clearnet address whose server redirects to the onion address: the server's doing.
    start({ tabId: 12, frameId: 0, url: 'http://clearnet.test/' });
    commit({ tabId: 12, frameId: 0, url: LANDING, transitionType: 'typed', transitionQualifiers: ['server_redirect'] });
    expect(await routing.startedByPerson(12, LANDING, undefined)).toBe(false);
    // A typed commit of another address in that tab says nothing about this one.
    commit({ tabId: 10, frameId: 0, url: `${BASE}extension/pages/onion.html#other`, transitionType: 'typed', transitionQualifiers: [] });
    vi.useFakeTimers();
    const asked = routing.startedByPerson(10, LANDING, undefined);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await asked).toBe(false);
  });

  it('the person, when the extension\'s own UI vouched for it with a token, once', async () => {
    omnibox(' x.onion ');
    const url = updated.at(-1)!;
    const intent = new URL(url).searchParams.get('intent')!;
    expect(intent).toMatch(/^[0-9a-f-]{36}$/);
    expect(await routing.startedByPerson(11, url, intent)).toBe(true);
    vi.useFakeTimers();
    const again = routing.startedByPerson(11, url, intent);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await again).toBe(false);
  });
});
