import browser from 'webextension-polyfill';
import { OnionAddressError, parseOnionAddress } from '../../shared/onion/index.ts';

/**
 * Where `.onion` addresses typed in the address bar (or after the `onion` omnibox keyword) land,
 * and where a web page that sends the browser to an onion address lands too. The address is
 * checked here, with a message a person can act on for a malformed one. A valid one goes on to the
 * onion tab, which reaches the service through Tor, at once only when the person started the
 * navigation (onion-routing.ts decides); otherwise the person reads where a web page is sending
 * them and nothing is fetched until they click.
 */
const $ = (id: string) => document.getElementById(id)!;

function targetUrl(): URL | undefined {
  const raw = decodeURIComponent(location.hash.slice(1)) || new URLSearchParams(location.search).get('url') || '';
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  try {
    return new URL(withScheme);
  } catch {
    return undefined;
  }
}

function show(title: string, message: string, state: string): void {
  $('title').textContent = title;
  $('message').textContent = message;
  document.body.dataset.state = state;
}

const url = targetUrl();
$('address').textContent = url?.href ?? '(none)';
if (!url) {
  show('Not an address', 'What was typed is not a web address.', 'invalid');
} else {
  try {
    const onion = parseOnionAddress(url.hostname);
    const browse = `${browser.runtime.getURL('extension/pages/browse.html')}?url=${encodeURIComponent(url.href)}`;
    const intent = new URLSearchParams(location.search).get('intent') ?? undefined;
    show('Opening the onion service', `${onion.hostname} is a well-formed v3 onion address.`, 'checking');
    void (browser.runtime.sendMessage({ type: 'onion-landing', url: location.href, intent }) as Promise<{ byPerson?: boolean } | undefined>)
      .catch(() => undefined)
      .then((answer) => {
        if (answer?.byPerson) {
          show('Opening the onion service', `${onion.hostname} is a well-formed v3 onion address; opening it in the onion tab.`, 'valid');
          // The onion tab reaches it through Tor (descriptor, introduction, rendezvous).
          location.replace(browse);
          return;
        }
        show('A web page is sending you to an onion site',
          'You did not type this address: a link, a redirect or a form of a web page opened it. That page may want to recognize you when you '
          + 'arrive (the address can carry an identifier). Nothing has been fetched yet. Open it through Tor only if you meant to visit it.',
          'interstitial');
        const open = $('open') as HTMLButtonElement;
        open.hidden = false;
        open.addEventListener('click', () => location.replace(browse), { once: true });
      });
  } catch (e) {
    if (!(e instanceof OnionAddressError)) throw e;
    const why: Record<string, string> = {
      'not-onion': 'This is not an onion address.',
      'bad-base32': 'An onion address uses only the letters a–z and the digits 2–7.',
      'bad-length': 'A v3 onion address has exactly 56 characters before “.onion”.',
      'bad-version': 'This onion address names a version that does not exist; only version 3 does.',
      'bad-checksum': 'The address’s checksum does not match: a character was probably mistyped.',
      'bad-key': 'The address has a valid checksum but its key is not a valid Ed25519 key: no onion service can have it.',
    };
    show('Malformed onion address', `${why[e.problem] ?? ''} (${e.message})`, e.problem);
  }
}
