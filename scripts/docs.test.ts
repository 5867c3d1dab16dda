import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LAYERS } from './layers.ts';
import { ARCHITECTURE, docsProblems, outsidePointers, README, topLevelFolders, type DocsTree } from './docs.ts';

/**
 * The README's layout table and docs/ARCHITECTURE.md match the tree, and nothing in the project
 * points outside it (scripts/docs.ts says what each rule checks).
 */
const root = new URL('..', import.meta.url).pathname;

/** Files git tracks or would track (new files not yet added count; ignored ones do not). */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate'], { cwd: root, encoding: 'utf8' });
  // Only files: a worktree's node_modules may be an untracked symlink; a deleted file is gone.
  return out.split('\0').filter((p) => p !== '' && (statSync(join(root, p), { throwIfNoEntry: false })?.isFile() ?? false));
}

describe('the project\'s documents', () => {
  const paths = repositoryFiles();
  const tree: DocsTree = { paths, text: (p) => readFileSync(join(root, p), 'utf8') };

  it('name every top-level folder and layer, in order, and only paths that exist', () => {
    expect(topLevelFolders(paths)).toContain('shared');
    expect(docsProblems(tree)).toEqual([]);
  });

  it('nothing points outside the repository', () => {
    const texts = new Map<string, string>();
    for (const p of paths) {
      // The lock file is npm's; this file's fixtures are violations on purpose.
      if (p === 'package-lock.json' || p === 'scripts/docs.test.ts') continue;
      const text = readFileSync(join(root, p), 'utf8');
      if (!text.includes('\0')) texts.set(p, text);
    }
    expect(texts.size).toBeGreaterThan(100);
    expect(outsidePointers(texts)).toEqual([]);
  });
});

describe('the docs check itself', () => {
  const layerRows = LAYERS.map((l) => `| \`${l.folder}/\` | ${l.holds} |`).join('\n');
  const sharedRow = `| \`shared/\` | the core: ${LAYERS.map((l) => `\`${l.folder}/\``).join(' → ')} |`;
  const readme = [
    '# T', '', '## Layout', '', '| path | what |', '|---|---|', sharedRow, '| `cli/` | the command |', '| `.ci/run` | CI |', '',
    '## Tests', '', '- `scripts/layers.test.ts` keeps the layers.', '',
  ].join('\n');
  const arch = [
    '# A', '', '## Top-level folders', '', '| folder | what |', '|---|---|', '| `shared/` | core |', '| `cli/` | command |', '',
    '## The layers of shared/', '', '| layer | holds |', '|---|---|', layerRows, '',
    'The facade is `shared/client/tor-client.ts`; circuits in `circuit/circuit.ts`.', '',
    '```', 'page → shared/client/tor-client.ts (TorClient) → channel.ts', '```', '',
  ].join('\n');
  const paths = ['README.md', 'docs/ARCHITECTURE.md', '.ci/run', 'cli/main.ts', 'scripts/layers.test.ts', 'shared/client/tor-client.ts', 'shared/circuit/circuit.ts', 'shared/channel/channel.ts',
    ...LAYERS.map((l) => `shared/${l.folder}/index.ts`)];
  const tree = (edit: { paths?: string[]; readme?: string; arch?: string } = {}): DocsTree => {
    const texts = new Map([[README, edit.readme ?? readme], [ARCHITECTURE, edit.arch ?? arch]]);
    return { paths: edit.paths ?? paths, text: (p) => texts.get(p) ?? '' };
  };

  it('passes a tree its documents describe', () => {
    expect(topLevelFolders(paths)).toEqual(['cli', 'docs', 'scripts', 'shared']);
    // docs/ and scripts/ have no rows in this fixture: everything else agrees.
    expect(docsProblems(tree())).toEqual([
      'README.md: the layout table has no row for docs/',
      'README.md: the layout table has no row for scripts/',
      'docs/ARCHITECTURE.md: the top-level table has no row for docs/',
      'docs/ARCHITECTURE.md: the top-level table has no row for scripts/',
    ]);
    const complete = (s: string, header: string) => s.replace(header, `${header}\n| \`docs/\` | docs |\n| \`scripts/\` | checks |`);
    expect(docsProblems(tree({ readme: complete(readme, '|---|---|'), arch: complete(arch, '|---|---|') }))).toEqual([]);
  });

  it('catches a folder missing from both tables, and a row for a folder that is gone', () => {
    const problems = docsProblems(tree({ paths: [...paths, 'testnet/plan.ts'] }));
    expect(problems).toContain('README.md: the layout table has no row for testnet/');
    expect(problems).toContain('docs/ARCHITECTURE.md: the top-level table has no row for testnet/');
    expect(docsProblems(tree({ paths: paths.filter((p) => p !== 'cli/main.ts') }))).toEqual(expect.arrayContaining([
      'README.md: the layout table names cli/, which is not in the tree',
      'docs/ARCHITECTURE.md: the top-level table names cli/, which is not in the tree',
    ]));
  });

  it('catches layers out of order or missing', () => {
    const swapped = arch.replace(`| \`util/\``, '| `tmp/`').replace(`| \`bytes/\``, '| `util/`').replace('| `tmp/`', '| `bytes/`');
    expect(docsProblems(tree({ arch: swapped })).filter((p) => p.includes('layer table'))).toHaveLength(1);
    const noSocks = readme.replace('`socks/` → ', '');
    expect(docsProblems(tree({ readme: noSocks }))).toContain('README.md: the shared/ row does not name socks/ after the layers below it');
  });

  it('catches a named path that does not exist, in text and in a diagram', () => {
    const moved = paths.filter((p) => p !== 'shared/circuit/circuit.ts' && p !== 'shared/channel/channel.ts');
    const line = (text: string) => arch.split('\n').findIndex((l) => l.includes(text)) + 1;
    expect(docsProblems(tree({ paths: moved })).filter((p) => p.includes(' names '))).toEqual([
      `docs/ARCHITECTURE.md:${line('The facade')} names circuit/circuit.ts, which is not in the tree`,
      `docs/ARCHITECTURE.md:${line('page →')} names channel.ts, which is not in the tree`,
    ]);
  });

  it('catches a repository check the Tests section does not name', () => {
    expect(docsProblems(tree({ paths: [...paths, 'scripts/docs.test.ts'] }))).toContain('README.md: the Tests section does not name scripts/docs.test.ts');
  });

  it('catches pointers outside the repository, and only those', () => {
    const files = new Map([
      ['shared/crypto/aes-ctr.ts', '/** Batches of 32 cells (DESIGN.md). */\n'],
      ['e2e/a.e2e.test.ts', "// vectors copied from /work/shared/vectors/ntor\nimport { x } from '../shared/util/index.ts';\n"],
      ['README.md', 'See ../shared/DESIGN-notes.txt and docs/ARCHITECTURE.md.\n'],
      ['extension/client/service.ts', "import { TorClient } from '../../shared/client/index.ts';\nconst u = 'https://example.org/work/x';\n"],
      ['scripts/layers.test.ts', "['bytes/reader.ts', \"import { F } from '../../node-platform/file-store.ts';\"]\n"],
    ]);
    expect(outsidePointers(files)).toEqual([
      "shared/crypto/aes-ctr.ts:1: cites the team's notes, which are not part of the project: state the fact itself",
      "e2e/a.e2e.test.ts:1: names a path in the machine's workspace, outside the repository",
      'README.md:1: ../shared/DESIGN-notes.txt leaves the repository',
    ]);
  });
});
