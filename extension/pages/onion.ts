import browser from 'webextension-polyfill';
import { OnionAddressError, parseOnionAddress } from '../../shared/onion/address.ts';

/**
 * Where `.onion` addresses typed in the address bar (or after the `onion` omnibox keyword) land.
 * The address is checked here, with a message a person can act on for a malformed one; a valid one
 * goes on to the onion tab, which reaches the service through Tor.
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
    show('Opening the onion service', `${onion.hostname} is a well-formed v3 onion address; opening it in the onion tab.`, 'valid');
    // The onion tab reaches it through Tor (descriptor, introduction, rendezvous).
    location.replace(`${browser.runtime.getURL('extension/pages/browse.html')}?url=${encodeURIComponent(url.href)}`);
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
