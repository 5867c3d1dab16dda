import { ConfigError } from '../../shared/config/index.ts';
import { parseClientAuthLine } from '../../shared/onion/index.ts';
import { parseSettings, type ExtensionSettings } from '../client/service.ts';

/**
 * The settings page's check of what a person typed: the same parseSettings the worker runs, line
 * by line, so that an error names the line in the text box it is on ("Bridge lines, line 3: …")
 * rather than an index among the non-blank lines. An empty DirAuthority box is fine: the built-in
 * authorities are used.
 */

export type SettingsField = 'bridges' | 'authorities' | 'onionAuth';

export interface SettingsProblem {
  readonly field: SettingsField;
  /** 1-based line in that text box; undefined when the problem is the box as a whole (empty). */
  readonly line: number | undefined;
  readonly message: string;
}

export type SettingsCheck = { readonly ok: true; readonly settings: ExtensionSettings } | { readonly ok: false; readonly problem: SettingsProblem };

/**
 * A known-good bridge line that stands in while a DirAuthority line is checked alone: parseSettings
 * wants a bridge (a bridge line alone is checked with no authorities, i.e. the built-in ones).
 * Nothing is ever dialled with it.
 */
export const PLACEHOLDER_BRIDGE = `telescope ws://127.0.0.1:1/ ${'0'.repeat(40)} ntor=${'A'.repeat(43)}`;

const LABEL: Record<SettingsField, string> = { bridges: 'Bridge lines', authorities: 'DirAuthority lines', onionAuth: 'Onion client keys' };

/** Non-blank lines that are not `#` comments, with their 1-based line numbers. */
export function settingLines(text: string): { line: number; text: string }[] {
  return text.split(/\r?\n/).flatMap((t, i) => (t.trim() === '' || t.trim().startsWith('#') ? [] : [{ line: i + 1, text: t.trim() }]));
}

export function checkSettings(bridgesText: string, authoritiesText: string, onionAuthText = ''): SettingsCheck {
  const bridges = settingLines(bridgesText);
  const authorities = settingLines(authoritiesText);
  const onionAuth = settingLines(onionAuthText);
  for (const l of onionAuth) {
    // The parser names the line itself ("Onion client keys, line 3: …").
    const problem = configProblem(() => parseClientAuthLine(l.text, `${LABEL.onionAuth}, line ${l.line}`));
    if (problem !== undefined) return { ok: false, problem: { field: 'onionAuth', line: l.line, message: problem } };
  }
  for (const [field, lines] of [['bridges', bridges], ['authorities', authorities]] as const) {
    for (const l of lines) {
      const one = field === 'bridges' ? { bridges: [l.text], authorities: [] } : { bridges: [PLACEHOLDER_BRIDGE], authorities: [l.text] };
      // parseSettings numbers the line among those it was given (here always 1): the text box's
      // own line number replaces it, and the reason is the error's, without that number.
      const problem = configError(() => parseSettings(one));
      if (problem !== undefined) return { ok: false, problem: { field, line: l.line, message: `${LABEL[field]}, line ${l.line}: ${problem.reason}` } };
    }
  }
  const settings: ExtensionSettings = { bridges: bridges.map((l) => l.text), authorities: authorities.map((l) => l.text), onionAuth: onionAuth.map((l) => l.text) };
  const whole = configProblem(() => parseSettings(settings));
  // Every line parsed alone and the authorities may be left out: only a missing bridge is left.
  if (whole !== undefined) return { ok: false, problem: { field: 'bridges', line: undefined, message: capitalise(whole) } };
  return { ok: true, settings };
}

function configProblem(f: () => unknown): string | undefined {
  return configError(f)?.message;
}

function configError(f: () => unknown): ConfigError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
