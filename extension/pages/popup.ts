import browser from 'webextension-polyfill';
import type { BootstrapStatus } from '../../shared/client/index.ts';
import { phaseText, showProblem } from './bootstrap-view.ts';

/**
 * The popup: bootstrap progress, the bridge and the directory authorities in use, the circuit the current onion-tab site uses
 * (each hop's nickname, fingerprint, flags, bandwidth), and the controls a person needs: a new
 * circuit for this site, a new identity (every circuit dropped), an onion tab, the settings.
 * When bootstrapping is stuck it says what is wrong and what to do about it.
 */
interface Hop { nickname: string; fingerprint: string; flags: string[]; bandwidth: number }
interface PopupState {
  status: BootstrapStatus;
  bridge: string | undefined;
  /** The authority set the consensus is checked against, described for a person. */
  authorities: { kind: 'built-in' | 'custom'; text: string };
  site: string | undefined;
  circuit: Hop[] | undefined;
}

const $ = (id: string) => document.getElementById(id)!;

async function currentSite(): Promise<string | undefined> {
  // popup.html?site=HOST shows a given site (a link from the onion tab; tests).
  const given = new URLSearchParams(location.search).get('site');
  if (given) return given;
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  const m = tab?.url ? /\/web\/https?\/([^/]+)\//.exec(new URL(tab.url).pathname) : null;
  return m?.[1];
}

async function render(): Promise<void> {
  const site = await currentSite();
  const s = (await browser.runtime.sendMessage({ type: 'popup', site })) as PopupState;
  ($('progress') as HTMLElement).style.width = `${s.status.percent}%`;
  $('phase').textContent = phaseText(s.status);
  showProblem($('problem'), $('problem-message'), $('problem-hint'), s.status);
  $('bridge').textContent = s.bridge ?? 'none configured';
  $('authorities').textContent = s.authorities.text;
  $('authorities').dataset.kind = s.authorities.kind;
  $('site').textContent = s.site ?? 'this site';
  const list = $('circuit');
  list.replaceChildren(...(s.circuit ?? []).map((h) => {
    const li = document.createElement('li');
    li.textContent = `${h.nickname}`;
    const small = document.createElement('small');
    small.textContent = `${h.fingerprint} · ${h.flags.join(' ')} · ${h.bandwidth} kB/s`;
    li.append(small);
    return li;
  }));
  if (!s.circuit?.length) list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'no circuit yet' }));
}

$('new-circuit').addEventListener('click', async () => {
  await browser.runtime.sendMessage({ type: 'new-circuit', site: await currentSite() });
  await render();
});
$('new-identity').addEventListener('click', async () => {
  await browser.runtime.sendMessage({ type: 'new-identity' });
  await render();
});
$('settings').addEventListener('click', () => {
  void browser.runtime.openOptionsPage();
});
$('open-tab').addEventListener('click', () => {
  void browser.tabs.create({ url: browser.runtime.getURL('extension/pages/browse.html') });
});

void render();
setInterval(() => void render(), 1000);
