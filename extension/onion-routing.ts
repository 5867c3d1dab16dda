import browser from 'webextension-polyfill';

/**
 * `.onion` from the address bar (DESIGN.md): a declarativeNetRequest rule sends any http(s) URL
 * whose host ends in .onion to the extension's onion page, before Chromium tries DNS for it; the
 * `onion` omnibox keyword does the same for whatever is typed after it. Chromium's DNS prefetch is
 * switched off so it never looks up a name the person types. The 56-character length is checked
 * in code (onion.ts): a quantifier that long exceeds Chrome's regex size limit.
 */

const ONION_RULE_ID = 1;
const FAIL_CLOSED_RULE_ID = 2;

/**
 * Fail closed: nothing an extension page does reaches the network directly (a link click, an
 * image, a form): everything goes through the worker's Tor client. The rule names the extension
 * as initiator, which leaves the worker's own WebSocket to the bridge alone (DESIGN.md).
 */
export async function installNetworkRules(): Promise<void> {
  const page = browser.runtime.getURL('extension/pages/onion.html');
  await browser.declarativeNetRequest.updateDynamicRules({
    removeRuleIds: [ONION_RULE_ID, FAIL_CLOSED_RULE_ID],
    addRules: [{
      id: FAIL_CLOSED_RULE_ID,
      priority: 2,
      action: { type: 'block' },
      condition: { regexFilter: '^(https?|wss?|ftp)://', initiatorDomains: [browser.runtime.id] },
    }, {
      id: ONION_RULE_ID,
      priority: 1,
      action: { type: 'redirect', redirect: { regexSubstitution: `${page}#\\0` } },
      condition: { regexFilter: '^https?://([a-z2-7-]+\\.)*[a-z2-7]+\\.onion(:[0-9]+)?(/.*)?$', resourceTypes: ['main_frame', 'sub_frame'] },
    }],
  });
  await browser.privacy.network.networkPredictionEnabled.set({ value: false });
}

export function listenToOmnibox(): void {
  browser.omnibox.onInputEntered.addListener((text: string) => {
    void browser.tabs.update({ url: `${browser.runtime.getURL('extension/pages/onion.html')}#${encodeURIComponent(text.trim())}` });
  });
}
