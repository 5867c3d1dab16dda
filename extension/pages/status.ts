import browser from 'webextension-polyfill';

/**
 * The status page: bootstrap progress of the Tor client in the service worker, and one page
 * fetched through Tor (the `fetch` query parameter), shown as text: nothing fetched is ever run
 * or rendered as HTML here.
 */
interface Status { percent: number; tag: string; summary: string }
interface Fetched { status: number; text: string; circuit: string[] }

const $ = (id: string) => document.getElementById(id)!;

async function refresh(): Promise<Status> {
  const s = (await browser.runtime.sendMessage({ type: 'status' })) as Status;
  ($('progress') as HTMLElement).style.width = `${s.percent}%`;
  $('phase').textContent = `Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`;
  return s;
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
  const r = (await browser.runtime.sendMessage({ type: 'fetch', url })) as Fetched | { error: string };
  if ('error' in r) {
    $('body').textContent = `Could not fetch: ${r.error}`;
    return;
  }
  $('circuit').textContent = r.circuit.join(' → ');
  $('body').textContent = `HTTP ${r.status}\n\n${r.text}`;
  document.body.dataset.loaded = 'true';
}

void main();
