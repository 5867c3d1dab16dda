import browser from 'webextension-polyfill';
import type { BootstrapStatus } from '../../shared/client/index.ts';
import type { ExtensionSettings } from '../client/service.ts';
import { phaseText, showProblem } from './bootstrap-view.ts';
import { checkSettings, type SettingsField } from './settings-check.ts';

/**
 * The settings page (also the extension's options page): the bridge lines, the DirAuthority
 * lines (optional: none means the built-in public authorities) and client keys for onion services
 * that require them. It says which authority set the worker uses. Save checks every line first
 * and names the one that is wrong; the worker then restarts the Tor client with the new settings
 * and keeps them for its next start.
 */

const $ = (id: string) => document.getElementById(id)!;
const boxes: Record<SettingsField, HTMLTextAreaElement> = {
  bridges: $('bridges') as HTMLTextAreaElement,
  authorities: $('authorities') as HTMLTextAreaElement,
  onionAuth: $('onionAuth') as HTMLTextAreaElement,
};
const result = $('result');

function say(state: 'ok' | 'error' | 'busy', text: string): void {
  result.dataset.state = state;
  result.textContent = text;
}

/** Put the cursor on line `line` (1-based) of a text box, so the person sees the line named. */
function selectLine(box: HTMLTextAreaElement, line: number): void {
  const lines = box.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  box.focus();
  box.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
}

interface SettingsAnswer {
  settings?: ExtensionSettings;
  /** The authority set the worker's client uses, described for a person. */
  authorities: { kind: 'built-in' | 'custom'; text: string };
}

function showAuthoritySet(r: SettingsAnswer): void {
  const el = $('authority-set');
  el.textContent = r.authorities.text;
  el.dataset.kind = r.authorities.kind;
}

async function load(): Promise<void> {
  const r = (await browser.runtime.sendMessage({ type: 'settings-get' })) as SettingsAnswer;
  showAuthoritySet(r);
  boxes.bridges.value = r.settings?.bridges.join('\n') ?? '';
  boxes.authorities.value = r.settings?.authorities.join('\n') ?? '';
  boxes.onionAuth.value = r.settings?.onionAuth?.join('\n') ?? '';
  document.body.dataset.loaded = 'true';
}

async function save(): Promise<void> {
  for (const b of Object.values(boxes)) b.removeAttribute('aria-invalid');
  const check = checkSettings(boxes.bridges.value, boxes.authorities.value, boxes.onionAuth.value);
  if (!check.ok) {
    const box = boxes[check.problem.field];
    box.setAttribute('aria-invalid', 'true');
    if (check.problem.line !== undefined) selectLine(box, check.problem.line);
    else box.focus();
    say('error', check.problem.message);
    return;
  }
  say('busy', 'Saving…');
  const r = (await browser.runtime.sendMessage({ type: 'settings-set', settings: check.settings })) as { ok: boolean; error?: string };
  if (r.ok) say('ok', 'Saved. Reconnecting with the new settings…');
  else say('error', r.error ?? 'the worker refused the settings');
  showAuthoritySet((await browser.runtime.sendMessage({ type: 'settings-get' })) as SettingsAnswer);
}

async function refreshStatus(): Promise<void> {
  const s = (await browser.runtime.sendMessage({ type: 'status' })) as BootstrapStatus;
  $('phase').textContent = phaseText(s);
  showProblem($('problem'), $('problem-message'), $('problem-hint'), s);
}

$('form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  save().catch((e: unknown) => say('error', `Could not save: ${e instanceof Error ? e.message : String(e)}`));
});

void load();
void refreshStatus();
setInterval(() => void refreshStatus(), 1000);
