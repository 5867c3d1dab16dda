import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sourceFiles, specifiers } from './import-scan.ts';

/**
 * shared/ is the protocol core that runs unchanged in the extension's service worker and in Node.
 * It may use nothing host-specific: no `node:` modules (or their bare names), no DOM, and no global
 * beyond `globalThis.crypto`. This test reads every file under shared/ and fails on any such use.
 * Node-only tests (`*.node.test.ts`) are the exception: the browser project never loads them, and
 * they may read fixtures from disk (e.g. the brotli-compressed live consensus) with node:fs/zlib.
 */
const root = new URL('..', import.meta.url).pathname;
const sharedDir = join(root, 'shared');

const NODE_BUILTINS = [
  'assert', 'buffer', 'child_process', 'crypto', 'dgram', 'dns', 'events', 'fs', 'http', 'http2',
  'https', 'net', 'os', 'path', 'process', 'stream', 'timers', 'tls', 'url', 'util', 'worker_threads', 'zlib',
];

/** Host globals that must not appear in the core (word-boundary match, comments stripped). */
const FORBIDDEN_GLOBALS = /\b(?:window|document|navigator|localStorage|sessionStorage|indexedDB|process|Buffer|require|__dirname|chrome|browser)\b\s*[.([]/;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

/** Whether a file under shared/ runs only in Node (vitest's browser project excludes it). */
function isNodeOnlyTest(path: string): boolean {
  return path.endsWith('.node.test.ts');
}

describe('shared/ purity', () => {
  const files = sourceFiles(sharedDir).filter((f) => !isNodeOnlyTest(f));

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(3);
  });

  it('imports no node: or Node built-in module', () => {
    const offenders: string[] = [];
    for (const f of files) {
      for (const spec of specifiers(readFileSync(f, 'utf8'))) {
        const bare = spec.replace(/^node:/, '').split('/')[0]!;
        if (spec.startsWith('node:') || NODE_BUILTINS.includes(bare)) offenders.push(`${relative(root, f)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('touches no DOM or host global', () => {
    const offenders: string[] = [];
    for (const f of files) {
      const lines = stripComments(readFileSync(f, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (FORBIDDEN_GLOBALS.test(line)) offenders.push(`${relative(root, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('the checks catch what they are meant to catch', () => {
    expect(specifiers("import { x } from 'node:fs';\nexport * from './a.ts';\nconst m = await import('tls');")).toEqual(['node:fs', './a.ts', 'tls']);
    expect(FORBIDDEN_GLOBALS.test('const b = Buffer.from(x)')).toBe(true);
    expect(FORBIDDEN_GLOBALS.test('document.title = 1')).toBe(true);
    expect(FORBIDDEN_GLOBALS.test('const documentCount = 1')).toBe(false);
    expect(isNodeOnlyTest('/x/shared/netdoc/live.node.test.ts')).toBe(true);
    expect(isNodeOnlyTest('/x/shared/netdoc/live.test.ts')).toBe(false);
    expect(isNodeOnlyTest('/x/shared/netdoc/node.ts')).toBe(false);
  });
});
