import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sourceFiles } from './import-scan.ts';
import { describeViolation, LAYERS, layerViolations, TEST_SUPPORT } from './layers.ts';

/**
 * shared/ keeps its layer order (scripts/layers.ts): every import in it, source and tests alike,
 * goes down the table, and into another layer only through that layer's index.ts.
 */
const sharedDir = join(new URL('..', import.meta.url).pathname, 'shared');

describe('shared/ layers', () => {
  const files = new Map(sourceFiles(sharedDir).map((p) => [relative(sharedDir, p), readFileSync(p, 'utf8')]));

  it('has every layer of the tree in its table, each with an index.ts', () => {
    const folders = readdirSync(sharedDir).filter((n) => statSync(join(sharedDir, n)).isDirectory());
    const placed = new Set([...LAYERS.map((l) => l.folder), TEST_SUPPORT]);
    expect(folders.filter((f) => !placed.has(f))).toEqual([]);
    for (const f of folders) if (f !== TEST_SUPPORT) expect(files.has(`${f}/index.ts`), `${f}/index.ts`).toBe(true);
  });

  it('no import climbs the table or reaches past a layer\'s index.ts', () => {
    expect(layerViolations(files).map(describeViolation)).toEqual([]);
  });

  it('the README\'s shared/ row names the layers in the table\'s order', () => {
    const readme = readFileSync(join(sharedDir, '..', 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `shared/` |'));
    expect(row, 'README layout row for shared/').toBeDefined();
    const folders = new Set(LAYERS.map((l) => l.folder));
    // Each layer in the order of its first mention (a clause may name another layer again).
    const named = [...new Set([...row!.matchAll(/`([a-z]+)\/`/g)].map((m) => m[1]!).filter((f) => folders.has(f)))];
    expect(named).toEqual(LAYERS.map((l) => l.folder));
  });
});

describe('the layer check itself', () => {
  const clean = new Map([
    ['util/index.ts', "export * from './errors.ts';\n"],
    ['util/errors.ts', 'export class TelescopeError extends Error {}\n'],
    ['bytes/index.ts', "export * from './reader.ts';\nexport * from './writer.ts';\n"],
    ['bytes/reader.ts', "import { TelescopeError } from '../util/index.ts';\nimport { Writer } from './writer.ts';\n"],
    ['bytes/writer.ts', "import {\n  TelescopeError,\n} from '../util/index.ts';\n"],
    ['bytes/reader.test.ts', "import { describe } from 'vitest';\nimport { thrown } from '../testing/thrown.ts';\nimport data from '../cells/fixtures/link.json';\n"],
    ['cells/index.ts', "export * from './framing.ts';\n"],
    ['cells/framing.ts', "import type { Reader } from '../bytes/index.ts';\n"],
    ['testing/thrown.ts', "import { TelescopeError } from '../util/index.ts';\n"],
    ['selfcheck.ts', "import { Reader } from './bytes/index.ts';\n"],
  ]);
  const edit = (file: string, src: string) => new Map([...clean, [file, src]]);

  it('passes a clean tree', () => {
    expect(layerViolations(clean)).toEqual([]);
  });

  it('flags an upward import with its file, line and specifier', () => {
    const tree = edit('util/errors.ts', "// errors\nimport { Reader } from '../bytes/index.ts';\nexport class TelescopeError extends Error {}\n");
    expect(layerViolations(tree)).toEqual([{ file: 'util/errors.ts', line: 2, spec: '../bytes/index.ts', why: 'climbs from util/ to bytes/, which sits above it' }]);
    expect(describeViolation(layerViolations(tree)[0]!)).toBe('shared/util/errors.ts:2 imports ../bytes/index.ts: climbs from util/ to bytes/, which sits above it');
  });

  it('flags an upward import in a test, and one into the top files', () => {
    expect(layerViolations(edit('bytes/reader.test.ts', "import { Frame } from '../cells/index.ts';\n")).map((x) => x.why))
      .toEqual(['climbs from bytes/ to cells/, which sits above it']);
    expect(layerViolations(edit('cells/framing.ts', "import { selfcheck } from '../selfcheck.ts';\n")).map((x) => x.why))
      .toEqual(['climbs from cells/ to the top files, which sits above it']);
  });

  it('flags a deep import into another layer, and a file importing its own layer\'s index', () => {
    expect(layerViolations(edit('cells/framing.ts', "import { Reader } from '../bytes/reader.ts';\n")))
      .toEqual([{ file: 'cells/framing.ts', line: 1, spec: '../bytes/reader.ts', why: 'reaches into bytes/ past its index.ts' }]);
    expect(layerViolations(edit('bytes/reader.ts', "import { Writer } from './index.ts';\n")).map((x) => x.why))
      .toEqual(["imports its own layer's index.ts: files of a layer import each other directly"]);
  });

  it('keeps test support and fixtures out of product code, and product code inside shared/', () => {
    expect(layerViolations(edit('bytes/reader.ts', "import { thrown } from '../testing/thrown.ts';\n")).map((x) => x.why))
      .toEqual(['test support (testing/thrown.ts) imported by product code']);
    expect(layerViolations(edit('bytes/reader.ts', "import data from '../cells/fixtures/link.json';\n")).map((x) => x.why))
      .toEqual(['test support (cells/fixtures/link.json) imported by product code']);
    expect(layerViolations(edit('bytes/reader.ts', "import { FileStore } from '../../node-platform/file-store.ts';\n")).map((x) => x.why))
      .toEqual(['leaves shared/']);
    expect(layerViolations(edit('bytes/pair.node.test.ts', "import { FileStore } from '../../node-platform/file-store.ts';\n"))).toEqual([]);
  });

  it('fails on a folder the table does not place, and on an import into one', () => {
    const tree = edit('congestion/vegas.ts', "import { Reader } from '../bytes/index.ts';\n");
    expect(layerViolations(tree).map(describeViolation)).toEqual(['shared/congestion/vegas.ts:1: shared/congestion/ is not in the layer table (scripts/layers.ts): place it']);
    expect(layerViolations(edit('cells/framing.ts', "import { Vegas } from '../congestion/index.ts';\n")).map((x) => x.why))
      .toEqual(['shared/congestion/ is not in the layer table (scripts/layers.ts)']);
  });
});
