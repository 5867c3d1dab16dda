import { posix } from 'node:path';
import { LAYERS } from './layers.ts';

/**
 * What keeps the project's own documents true to the tree, and the project to itself: the README's
 * layout table and docs/ARCHITECTURE.md name every top-level folder and every layer of shared/ (the
 * architecture's layer table in the order of scripts/layers.ts), every path they name exists, the
 * README's Tests section names every repository check, and no file points at anything outside the
 * repository (the team's notes, the machine's workspace, a relative path that climbs out).
 */

export const README = 'README.md';
export const ARCHITECTURE = 'docs/ARCHITECTURE.md';

/** The files of the tree (paths from the repository root) and their text. */
export interface DocsTree {
  readonly paths: readonly string[];
  readonly text: (path: string) => string;
}

/** Top-level folders holding files, dot folders (.ci) aside: tooling, not parts of the project. */
export function topLevelFolders(paths: readonly string[]): string[] {
  return [...new Set(paths.filter((p) => p.includes('/')).map((p) => p.split('/')[0]!))].filter((f) => !f.startsWith('.')).sort();
}

/** The text of a `## heading` section, up to the next heading of level 2 or above. */
export function section(markdown: string, heading: string): string | undefined {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^#{1,2} /.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The first cell of each row of the tables in `text`, when it is one backticked name. */
export function firstColumn(text: string): string[] {
  return text.split('\n').flatMap((l) => {
    const m = /^\|\s*`([^`]+)`\s*\|/.exec(l);
    return m ? [m[1]!] : [];
  });
}

/** Whether `path` (a file, or a folder with or without its trailing slash) is in the tree. */
function exists(paths: readonly string[], path: string): boolean {
  const p = path.replace(/\/$/, '');
  return paths.some((f) => f === p || f.startsWith(`${p}/`));
}

/** A path as the docs write it: from the repository root, or inside shared/ for a layer's files. */
function resolves(paths: readonly string[], path: string): boolean {
  return exists(paths, path) || exists(paths, `shared/${path}`);
}

const PATH = /^[\w@-][\w.@-]*(?:\/[\w.@-]+)*\/?$/;

/**
 * Repository paths a markdown text names: backticked spans with a slash; in fenced blocks (diagrams)
 * words in lower case with a slash, and `.ts` file names.
 */
export function namedPaths(markdown: string): { path: string; line: number; fenced: boolean }[] {
  const out: { path: string; line: number; fenced: boolean }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((l, i) => {
    if (l.startsWith('```')) {
      fenced = !fenced;
      return;
    }
    if (fenced) {
      for (const m of l.matchAll(/(?<![\w.\/@:-])[\w@-][\w.@-]*(?:\/[\w.@-]+)*\/?/g)) {
        const t = m[0].replace(/\.$/, '');
        // A diagram also holds words with slashes (CREATE2/CREATE_FAST): paths start in lower case.
        if (/^[a-z]/.test(t) && (t.includes('/') || t.endsWith('.ts'))) out.push({ path: t, line: i + 1, fenced });
      }
      return;
    }
    for (const m of l.matchAll(/`([^`\s]+)`/g)) {
      if (m[1]!.includes('/') && PATH.test(m[1]!)) out.push({ path: m[1]!, line: i + 1, fenced });
    }
  });
  return out;
}

/** Everything in the README and the architecture document that no longer matches the tree. */
export function docsProblems(tree: DocsTree): string[] {
  const out: string[] = [];
  const { paths } = tree;
  const folders = topLevelFolders(paths);
  const readme = tree.text(README);
  const arch = tree.text(ARCHITECTURE);

  const layout = section(readme, 'Layout');
  if (layout === undefined) out.push(`${README}: no "## Layout" section`);
  const rows = firstColumn(layout ?? '');
  for (const f of folders) if (!rows.includes(`${f}/`)) out.push(`${README}: the layout table has no row for ${f}/`);
  for (const r of rows) if (!exists(paths, r)) out.push(`${README}: the layout table names ${r}, which is not in the tree`);

  const top = section(arch, 'Top-level folders');
  if (top === undefined) out.push(`${ARCHITECTURE}: no "## Top-level folders" section`);
  const archRows = firstColumn(top ?? '');
  for (const f of folders) if (!archRows.includes(`${f}/`)) out.push(`${ARCHITECTURE}: the top-level table has no row for ${f}/`);
  for (const r of archRows) if (!exists(paths, r)) out.push(`${ARCHITECTURE}: the top-level table names ${r}, which is not in the tree`);

  const layers = LAYERS.map((l) => `${l.folder}/`);
  const layerRows = firstColumn(section(arch, 'The layers of shared/') ?? '');
  if (layerRows.join(' ') !== layers.join(' ')) {
    out.push(`${ARCHITECTURE}: the layer table reads ${layerRows.join(' → ') || '(none)'}; scripts/layers.ts has ${layers.join(' → ')}`);
  }
  const sharedRow = (layout ?? '').split('\n').find((l) => l.startsWith('| `shared/`')) ?? '';
  let at = 0;
  for (const l of layers) {
    const i = sharedRow.indexOf(`\`${l}\``, at);
    if (i < 0) {
      out.push(`${README}: the shared/ row does not name ${l} after the layers below it`);
      continue;
    }
    at = i;
  }

  for (const { path, line } of namedPaths(arch)) {
    const ok = path.includes('/') ? resolves(paths, path) : paths.some((f) => posix.basename(f) === path);
    if (!ok) out.push(`${ARCHITECTURE}:${line} names ${path}, which is not in the tree`);
  }

  const tests = section(readme, 'Tests') ?? '';
  for (const check of paths.filter((p) => /^scripts\/[^/]+\.test\.ts$/.test(p))) {
    if (!tests.includes(posix.basename(check))) out.push(`${README}: the Tests section does not name ${check}`);
  }
  return out;
}

/**
 * Files whose relative paths are allowed to climb out of the repository, and why. Only the
 * relative-path rule is waived for them.
 */
export const CLIMBING_FIXTURES: ReadonlyMap<string, string> = new Map([
  ['scripts/layers.test.ts', 'its fixtures are sources of files inside shared/, whose imports resolve from there'],
  ['scripts/host-imports.test.ts', 'its fixtures are sources of files inside the host folders, whose imports resolve from there'],
]);

/** Where a file points outside the repository: "FILE:LINE: WHY" for each. */
export function outsidePointers(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, src] of files) {
    const lineOf = (index: number) => src.slice(0, index).split('\n').length;
    for (const m of src.matchAll(/\bDESIGN\.md\b/g)) {
      out.push(`${file}:${lineOf(m.index)}: cites the team's notes, which are not part of the project: state the fact itself`);
    }
    for (const m of src.matchAll(/(?<![\w.-])\/work\//g)) {
      out.push(`${file}:${lineOf(m.index)}: names a path in the machine's workspace, outside the repository`);
    }
    if (CLIMBING_FIXTURES.has(file)) continue;
    for (const m of src.matchAll(/(?<![\w.\/@-])(?:\.\.\/)+[\w.@-]*(?:\/[\w.@-]+)*/g)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[0]));
      if (target === '..' || target.startsWith('../')) out.push(`${file}:${lineOf(m.index)}: ${m[0]} leaves the repository`);
    }
  }
  return out;
}
