import browser from 'webextension-polyfill';

/**
 * The extension's network rules and how `.onion` addresses reach the onion tab.
 *
 * `.onion` from the address bar: a declarativeNetRequest rule sends any http(s)
 * navigation whose host ends in .onion to the extension's landing page (onion.html), before
 * Chromium tries DNS for it; the `onion` omnibox keyword opens the same page. Chromium's DNS
 * prefetch is switched off so it never looks up a name the person types. The 56-character length is
 * checked in code (onion.ts): a quantifier that long exceeds Chrome's regex size limit.
 *
 * A web page, loaded with the person's real address, can send the browser to
 * `http://attacker.onion/?id=…` too: if the onion tab fetched it at once, the attacker would link
 * the person's two identities. So the landing page opens the onion tab at once only for a navigation
 * the person started: one typed or picked in the address bar (webNavigation says how each
 * navigation began), or one the extension's own UI (the omnibox keyword) vouches for with a
 * one-time token. Anything else, a link, a redirect, a form, a refresh, gets an interstitial that
 * fetches nothing until the person clicks.
 */

const ONION_RULE_ID = 1;
const FAIL_CLOSED_RULE_ID = 2;
const NO_NAVIGATION_OUT_RULE_ID = 3;

const LANDING_PAGE = 'extension/pages/onion.html';

/**
 * The host extension pages' requests name as their initiator: the worker's own origin (Chromium:
 * the extension id; Firefox: the per-install UUID, not runtime.id, which is no host name).
 */
function ownHosts(): string[] {
  return [globalThis.location.host];
}

/**
 * Fail closed: nothing an extension page does reaches the network directly: a link click, a form,
 * an image, a frame's navigation, and a navigation of the whole tab (a DNR rule without
 * resourceTypes matches every type except main_frame, hence the second rule). Everything goes
 * through the worker's Tor client. The rules name the extension as initiator, which leaves the
 * worker's own WebSocket to the bridge alone, and match only network schemes, so the extension's
 * own pages (chrome-extension:, the onion tab's /web/ paths) keep working.
 */
export function networkRules(): { id: number; priority: number; action: object; condition: object }[] {
  const initiatorDomains = ownHosts();
  const network = '^(https?|wss?|ftp)://';
  return [{
    id: FAIL_CLOSED_RULE_ID,
    priority: 2,
    action: { type: 'block' },
    condition: { regexFilter: network, initiatorDomains },
  }, {
    id: NO_NAVIGATION_OUT_RULE_ID,
    priority: 2,
    action: { type: 'block' },
    condition: { regexFilter: network, initiatorDomains, resourceTypes: ['main_frame', 'sub_frame'] },
  }, {
    id: ONION_RULE_ID,
    priority: 1,
    action: { type: 'redirect', redirect: { regexSubstitution: `${browser.runtime.getURL(LANDING_PAGE)}#\\0` } },
    condition: { regexFilter: '^https?://([a-z2-7-]+\\.)*[a-z2-7]+\\.onion(:[0-9]+)?(/.*)?$', resourceTypes: ['main_frame', 'sub_frame'] },
  }];
}

export async function installNetworkRules(): Promise<void> {
  await browser.declarativeNetRequest.updateDynamicRules({
    removeRuleIds: [ONION_RULE_ID, FAIL_CLOSED_RULE_ID, NO_NAVIGATION_OUT_RULE_ID],
    addRules: networkRules() as browser.DeclarativeNetRequest.Rule[],
  });
  await browser.privacy.network.networkPredictionEnabled.set({ value: false });
}

// --- who started a navigation to the landing page ---

/** webNavigation transitions that only the person makes: the address bar, a bookmark, a start page. */
const PERSON_TRANSITIONS = new Set(['typed', 'auto_bookmark', 'generated', 'keyword', 'keyword_generated', 'start_page']);
/** How long the landing page's question waits for the navigation's commit to be reported. */
const COMMIT_WAIT_MS = 3_000;

interface Commit { readonly url: string; readonly byPerson: boolean }

/** The latest commit of the landing page in each tab, and landing pages waiting for theirs. */
const commits = new Map<number, Commit>();
const waiting = new Map<number, ((c: Commit) => void)[]>();
/** One-time tokens the extension's own UI puts in the landing page's URL. */
const intents = new Set<string>();

function landingUrl(): string {
  return browser.runtime.getURL(LANDING_PAGE);
}

/** Is `url` the landing page (the static or the per-session dynamic address of the extension)? */
function isLanding(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const u = new URL(url);
  return (u.protocol === 'chrome-extension:' || u.protocol === 'moz-extension:') && u.pathname === `/${LANDING_PAGE}`
    && (u.host === globalThis.location.host || u.host === new URL(landingUrl()).host);
}

/** The part of a landing URL that says where to go (its query and hash), whichever host it was reached under. */
const destinationOf = (url: string) => {
  const u = new URL(url);
  return `${u.search}${u.hash}`;
};

/** Where each tab's latest top-level navigation started (before any redirect). */
const starts = new Map<number, string>();

/** An http(s) URL whose host is an onion address. */
const isOnionUrl = (url: string) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol) && new URL(url).hostname.endsWith('.onion');

/** Must be called at the worker's top level, so that the event wakes a stopped worker. */
export function listenToNavigations(): void {
  browser.webNavigation.onBeforeNavigate.addListener((d) => {
    if (d.frameId === 0) starts.set(d.tabId, d.url);
  });
  browser.webNavigation.onCommitted.addListener((d) => {
    if (d.frameId !== 0 || !isLanding(d.url)) return;
    // Typed in the address bar, and typed as the onion address itself: a typed clearnet address
    // that redirects to an onion address is the clearnet site's doing (its server redirect).
    const started = starts.get(d.tabId);
    const byPerson = PERSON_TRANSITIONS.has(d.transitionType)
      && !d.transitionQualifiers.includes('client_redirect') && !d.transitionQualifiers.includes('forward_back')
      && started !== undefined && isOnionUrl(started);
    const commit = { url: d.url, byPerson };
    commits.set(d.tabId, commit);
    for (const resolve of waiting.get(d.tabId) ?? []) resolve(commit);
    waiting.delete(d.tabId);
  });
  browser.tabs.onRemoved.addListener((tabId) => {
    commits.delete(tabId);
    starts.delete(tabId);
  });
}

/**
 * Did the person start the navigation that showed the landing page at `url` in tab `tabId`?
 * Yes for a token the extension's UI issued (used once), or for a commit of that very URL that
 * webNavigation reports as typed; no for everything else, and when no commit is reported in time.
 */
export async function startedByPerson(tabId: number | undefined, url: string, intent: string | undefined): Promise<boolean> {
  if (intent !== undefined && intents.delete(intent)) return true;
  if (tabId === undefined || !isLanding(url)) return false;
  const matches = (c: Commit | undefined) => c !== undefined && destinationOf(c.url) === destinationOf(url);
  let commit = commits.get(tabId);
  if (!matches(commit)) {
    commit = await new Promise<Commit | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), COMMIT_WAIT_MS);
      const list = waiting.get(tabId) ?? [];
      list.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
      waiting.set(tabId, list);
    });
  }
  if (!matches(commit)) return false;
  // One answer per commit: a page that asks again later (a reload) is asked about its new commit.
  commits.delete(tabId);
  return commit!.byPerson;
}

/** The landing page for `text`, vouched for as the person's own (the omnibox keyword). */
function vouchedLanding(text: string): string {
  const token = crypto.randomUUID();
  intents.add(token);
  return `${landingUrl()}?intent=${token}#${encodeURIComponent(text)}`;
}

export function listenToOmnibox(): void {
  browser.omnibox.onInputEntered.addListener((text: string) => {
    void browser.tabs.update({ url: vouchedLanding(text.trim()) });
  });
}
