import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { importGraph, importsOf, packageName, shippingViolations, type ShippingRules } from './import-graph.ts';
import { sourceFiles } from './import-scan.ts';

/**
 * The `telescope` command is what users and operators run: it must not load the developer tools
 * (the private-network harness in testnet/, the tests in e2e/, bench/, scripts/) nor any package
 * that is only a devDependency (Playwright, vitest, ...), which an installation without dev
 * dependencies does not have. This walks the command's import graph from bin/telescope.js,
 * following static imports and the `import()` each subcommand is loaded with, and fails on any
 * such module with the chain of imports that reaches it.
 *
 * The command runs from its TypeScript sources today (bin/telescope.js registers tsx's loader); a
 * built command is issue 18's job. The module graph a bundler would follow is this same graph.
 */
const root = new URL('..', import.meta.url).pathname;
const DEV_FOLDERS = ['e2e', 'testnet', 'bench', 'scripts'];

function rulesOf(pkgJson: string): ShippingRules {
  const pkg = JSON.parse(pkgJson) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  return { devFolders: DEV_FOLDERS, dependencies: Object.keys(pkg.dependencies ?? {}), devDependencies: Object.keys(pkg.devDependencies ?? {}) };
}

function entryOf(pkgJson: string): string {
  const bin = (JSON.parse(pkgJson) as { bin?: Record<string, string> }).bin?.telescope;
  if (!bin) throw new Error('package.json has no bin.telescope');
  return bin.replace(/^\.\//, '');
}

describe('the telescope command', () => {
  const pkgJson = readFileSync(join(root, 'package.json'), 'utf8');
  const graph = importGraph(root, entryOf(pkgJson));

  it('loads nothing from e2e/, testnet/, bench/ or scripts/, and no devDependency', () => {
    expect(shippingViolations(graph, rulesOf(pkgJson))).toEqual([]);
  });

  it('is walked through its subcommands, which are loaded on demand', () => {
    // The walk must reach the relay's code, which main loads with import(): a walk that stopped at
    // static imports would prove nothing about the subcommands.
    expect(graph.onDemand.size).toBeGreaterThan(0);
    expect([...graph.modules.keys()].some((m) => /relay-bridge\/relay\/relay\.ts$/.test(m))).toBe(true);
    expect(graph.packages.has('ws')).toBe(true);
  });
});

describe('e2e/', () => {
  it('holds only tests: no file outside it imports from it (the harness and helpers live in testnet/)', () => {
    const offenders: string[] = [];
    // Every project folder but e2e/ itself (and what is not source: packages, build output, git).
    const folders = readdirSync(root).filter((n) => !['e2e', 'node_modules', 'dist'].includes(n) && !n.startsWith('.') && statSync(join(root, n)).isDirectory());
    const files = [...folders.flatMap((f) => sourceFiles(join(root, f))), ...readdirSync(root).filter((n) => /\.(ts|js|mjs)$/.test(n)).map((n) => join(root, n))];
    for (const file of files) {
      const path = relative(root, file);
      if (path.startsWith('e2e/')) continue;
      for (const imp of importsOf(file, readFileSync(file, 'utf8')).imports) {
        if (!imp.specifier.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(file), imp.specifier));
        if (target.startsWith('e2e/')) offenders.push(`${path} imports ${imp.specifier}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

describe('the import-graph check itself', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A throw-away project: `files` by path, plus a package.json with these dependencies. */
  function fixture(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'telescope-import-graph-'));
    dirs.push(dir);
    const pkg = { bin: { telescope: './bin/telescope.js' }, dependencies: { ws: '1' }, devDependencies: { 'playwright-core': '1', '@vitest/browser': '1' } };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }
  const check = (dir: string): string[] => {
    const pkgJson = readFileSync(join(dir, 'package.json'), 'utf8');
    return shippingViolations(importGraph(dir, entryOf(pkgJson)), rulesOf(pkgJson));
  };

  const cleanCommand = {
    'bin/telescope.js': "const { main } = await import('../cli/main.ts');\nprocess.exitCode = await main(process.argv.slice(2));\n",
    'cli/main.ts': [
      "import { readFileSync } from 'node:fs';",
      "import path from 'path';",
      "import type { TestnetDescription } from '../testnet/description.ts';",
      "export type { Testnet } from '../testnet/network.ts';",
      'export async function main(args: string[]): Promise<number> {',
      "  const { runRelay } = await import('./relay.ts');",
      '  return runRelay(args);',
      '}',
    ].join('\n'),
    'cli/relay.ts': "import { WebSocketServer } from 'ws';\nexport async function runRelay(args: string[]): Promise<number> { return args.length; }\n",
  };

  it('passes a command that imports only its own code, built-ins and dependencies (type-only imports are erased)', () => {
    expect(check(fixture(cleanCommand))).toEqual([]);
  });

  it('fails when a subcommand loaded with import() reaches e2e/, which reaches a devDependency', () => {
    const dir = fixture({
      ...cleanCommand,
      'cli/relay.ts': "export async function runRelay(): Promise<number> {\n  const { launch } = await import('../e2e/chromium.ts');\n  return launch();\n}\n",
      'e2e/chromium.ts': "import { chromium } from 'playwright-core';\nexport async function launch(): Promise<number> { return chromium ? 0 : 1; }\n",
    });
    expect(check(dir)).toEqual([
      'e2e/chromium.ts is in e2e/ (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> e2e/chromium.ts)',
      'package playwright-core is a devDependency (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> e2e/chromium.ts -> playwright-core)',
    ]);
  });

  it('fails on testnet/, bench/ or scripts/ reached by a re-export or a side-effect import, and on undeclared packages', () => {
    const dir = fixture({
      ...cleanCommand,
      'cli/relay.ts': [
        "export { startTestnet } from '../testnet/index.ts';",
        "import '../bench/run.ts';",
        "import { type Foo } from '../scripts/foo.ts';",
        "import '@vitest/browser/context';",
        "import 'left-pad';",
        'export async function runRelay(): Promise<number> { return 0; }',
      ].join('\n'),
      'testnet/index.ts': 'export const startTestnet = 1;\n',
      'bench/run.ts': '',
      'scripts/foo.ts': 'export interface Foo { x: number }\n',
    });
    expect(check(dir)).toEqual([
      'testnet/index.ts is in testnet/ (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> testnet/index.ts)',
      'bench/run.ts is in bench/ (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> bench/run.ts)',
      'scripts/foo.ts is in scripts/ (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> scripts/foo.ts)',
      'package @vitest/browser is a devDependency (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> @vitest/browser)',
      'package left-pad is not in dependencies (bin/telescope.js -> cli/main.ts -> cli/relay.ts -> left-pad)',
    ]);
  });

  it('fails on what it cannot follow: an import() of a computed name, a missing file', () => {
    const dir = fixture({
      ...cleanCommand,
      'cli/relay.ts': "export async function runRelay(args: string[]): Promise<number> {\n  await import(`./${args[0]}.ts`);\n  await import('./gone.ts');\n  return 0;\n}\n",
    });
    expect(check(dir)).toEqual(["cannot follow cli/relay.ts: 1 import() or require() of a computed name", "cannot follow cli/relay.ts: './gone.ts' is not a file"]);
  });

  it('reads imports as the compiler does, not as text', () => {
    const { imports } = importsOf('x.ts', [
      "// import '../e2e/in-a-comment.ts';",
      "const s = \"import x from '../e2e/in-a-string.ts'\";",
      "import type { A } from './types.ts';",
      "import { type B } from './kept.ts';",
      "const m = require('./required.js');",
    ].join('\n'));
    expect(imports).toEqual([
      { specifier: './kept.ts', kind: 'static' },
      { specifier: './required.js', kind: 'static' },
    ]);
    expect([packageName('@scope/pkg/sub/path'), packageName('tsx/esm/api'), packageName('ws')]).toEqual(['@scope/pkg', 'tsx', 'ws']);
  });
});
