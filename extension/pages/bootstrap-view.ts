import type { BootstrapStatus } from '../../shared/client/index.ts';

/**
 * How the popup, the status page and the settings page show bootstrap progress and, when
 * bootstrapping is stuck, what is wrong and what to do: the same words everywhere.
 */

/** The phase line: "Bootstrapped 45% (loading_descriptors): Loading relay descriptors (3/8)". */
export function phaseText(s: BootstrapStatus): string {
  return `Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`;
}

/**
 * Fill a problem box (an element holding #…-message and #…-hint children, found by id) and show
 * it, or hide it when there is no problem. Text only: problem details may quote what a peer sent.
 */
export function showProblem(box: HTMLElement, message: HTMLElement, hint: HTMLElement, s: BootstrapStatus): void {
  const p = s.problem;
  box.hidden = p === undefined;
  box.dataset.kind = p?.kind ?? '';
  box.dataset.errorKind = p?.errorKind ?? '';
  message.textContent = p?.message ?? '';
  hint.textContent = p?.hint ?? '';
  box.title = p?.detail ?? '';
}
