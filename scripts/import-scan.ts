import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The import scanner the source-tree tests share (shared/ purity, host boundaries, shared/ layers):
 * which files to read, and which modules each one names.
 */

/** Every .ts/.js/.mjs file under `dir`, recursively. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(ts|js|mjs)$/.test(name) ? [p] : [];
  });
}

/** A module specifier and the (1-based) line it is written on. */
export interface ImportSite {
  readonly spec: string;
  readonly line: number;
}

const IMPORT_RE = /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|require\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module specifier in import/export-from statements, dynamic imports and require calls. */
export function importSites(src: string): ImportSite[] {
  const out: ImportSite[] = [];
  for (const m of src.matchAll(IMPORT_RE)) {
    const spec = (m[1] ?? m[2] ?? m[3] ?? m[4])!;
    // The line of the specifier itself (a multi-line import names its module on its last line).
    const at = m.index + m[0].lastIndexOf(spec);
    out.push({ spec, line: src.slice(0, at).split('\n').length });
  }
  return out;
}

export function specifiers(src: string): string[] {
  return importSites(src).map((s) => s.spec);
}

/** Specifiers that name a file by a relative path (`./x.ts`, `../y/z.ts`), not a package. */
export function relativeSpecifiers(src: string): string[] {
  return specifiers(src).filter((s) => s.startsWith('./') || s.startsWith('../'));
}
