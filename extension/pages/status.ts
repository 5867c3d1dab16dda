import browser from 'webextension-polyfill';
import type { BootstrapStatus } from '../../shared/client/index.ts';
import type { ErrorKind } from '../../shared/util/index.ts';
import { phaseText, showProblem } from './bootstrap-view.ts';

/**
 * The status page: bootstrap progress of the Tor client in the service worker, the directory
 * authorities its consensus is checked against (built in, or the settings'), and one page
 * fetched through Tor (the `fetch` query parameter), shown as text: nothing fetched is ever run
 * or rendered as HTML here.
 */
interface Fetched { status: number; text: string; circuit: string[] }

const $ = (id: string) => document.getElementById(id)!;

async function refresh(): Promise<BootstrapStatus> {
  const s = (await browser.runtime.sendMessage({ type: 'status' })) as BootstrapStatus;
  ($('progress') as HTMLElement).style.width = `${s.percent}%`;
  $('phase').textContent = phaseText(s);
  showProblem($('problem'), $('problem-message'), $('problem-hint'), s);
  await showAuthorities();
  return s;
}

/** The authority set in use, as the popup shows it (the worker describes it). */
async function showAuthorities(): Promise<void> {
  const r = (await browser.runtime.sendMessage({ type: 'popup' })) as { authorities: { kind: string; text: string } };
  $('authorities').textContent = r.authorities.text;
  $('authorities').dataset.kind = r.authorities.kind;
}

async function main(): Promise<void> {
  const url = new URLSearchParams(location.search).get('fetch');
  $('url').textContent = url ?? '(none)';
  let s = await refresh();
  while (s.percent < 100) {
    await new Promise((r) => setTimeout(r, 500));
    s = await refresh();
  }
  if (!url) return;
  const r = (await browser.runtime.sendMessage({ type: 'fetch', url })) as Fetched | { error: string; kind?: ErrorKind };
  if ('error' in r) {
    $('body').textContent = `Could not fetch: ${r.error}`;
    return;
  }
  $('circuit').textContent = r.circuit.join(' → ');
  $('body').textContent = `HTTP ${r.status}\n\n${r.text}`;
  document.body.dataset.loaded = 'true';
}

void main();
