import fc from 'fast-check';

/**
 * Test support for line-oriented documents: random edits (drop, duplicate, swap a line, or change
 * one character) so property tests can feed parsers "almost right" documents.
 */
export interface LineEdit {
  readonly op: number;
  readonly i: number;
  readonly j: number;
  readonly c: string;
}

export function mutateLines(text: string, edits: readonly LineEdit[]): string {
  const lines = text.split('\n');
  for (const e of edits) {
    const i = e.i % lines.length;
    const j = e.j % lines.length;
    if (e.op === 0) lines.splice(i, 1);
    else if (e.op === 1) lines.splice(i, 0, lines[i]!);
    else if (e.op === 2) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    else {
      const l = lines[i]!;
      const p = l.length ? e.j % l.length : 0;
      lines[i] = l.slice(0, p) + e.c + l.slice(p + 1);
    }
    if (lines.length === 0) break;
  }
  return lines.join('\n');
}

/** An arbitrary edit whose replacement characters come from `chars`. */
export function lineEdit(chars: readonly string[]): fc.Arbitrary<LineEdit> {
  return fc.record({ op: fc.nat(3), i: fc.nat(), j: fc.nat(), c: fc.constantFrom(...chars) });
}
