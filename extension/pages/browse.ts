import browser from 'webextension-polyfill';
import { proxyPath, webUrlOf } from '../../shared/http/index.ts';
import { isOnionHost, OnionAddressError, parseOnionAddress } from '../../shared/onion/index.ts';

/**
 * The onion tab: an address field and a frame whose pages the service worker fetches through Tor
 * (extension/client/web-proxy.ts). The frame's history is the tab's history, so back and forward
 * work on it; the address field follows the frame.
 */
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const view = $<HTMLIFrameElement>('view');
const address = $<HTMLInputElement>('address');

function open(raw: string): void {
  const text = raw.trim();
  if (!text) return;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    $('status').textContent = `“${text}” is not an address.`;
    return;
  }
  if (isOnionHost(url.hostname)) {
    try {
      parseOnionAddress(url.hostname);
    } catch (e) {
      if (!(e instanceof OnionAddressError)) throw e;
      // A malformed address gets the page that says what is wrong with it.
      location.href = `${browser.runtime.getURL('extension/pages/onion.html')}#${encodeURIComponent(url.href)}`;
      return;
    }
    followOnionPhases(url.hostname);
  }
  view.src = proxyPath(url);
}

const PHASE_TEXT: Record<string, string> = {
  descriptor: 'fetching its descriptor from the HSDirs',
  rendezvous: 'opening a rendezvous point',
  introducing: 'introducing us through an introduction point',
  connected: 'connected',
};
let phaseTimer: ReturnType<typeof setInterval> | undefined;

/** Show how far the connection to an onion service got, until its page arrives. */
function followOnionPhases(host: string): void {
  clearInterval(phaseTimer);
  const started = Date.now();
  const show = async () => {
    const p = (await browser.runtime.sendMessage({ type: 'onion-phase', host })) as { phase: string; at: number } | null;
    const step = p && p.at >= started - 1000 ? PHASE_TEXT[p.phase] ?? p.phase : 'starting';
    $('status').textContent = `Onion service ${host}: ${step}…`;
  };
  void show();
  phaseTimer = setInterval(() => void show(), 300);
}

$('bar').addEventListener('submit', (e) => {
  e.preventDefault();
  open(address.value);
});
$('back').addEventListener('click', () => history.back());
$('forward').addEventListener('click', () => history.forward());
view.addEventListener('load', () => {
  clearInterval(phaseTimer);
  const path = view.contentWindow?.location.pathname;
  const web = path ? webUrlOf(path + (view.contentWindow?.location.search ?? '')) : undefined;
  if (web) {
    address.value = web.href;
    document.title = `${view.contentDocument?.title || web.host} — Telescope`;
    $('status').textContent = isOnionHost(web.hostname)
      ? `Onion service ${web.hostname}: end to end through a rendezvous circuit. Scripts never run here.`
      : 'Every byte of this tab travels through Tor. Scripts never run here.';
  }
});

const initial = new URLSearchParams(location.search).get('url') ?? decodeURIComponent(location.hash.slice(1));
if (initial) {
  address.value = initial;
  open(initial);
}
