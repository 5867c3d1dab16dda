import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { relativeSpecifiers, sourceFiles } from './import-scan.ts';
import { describeSurfaceViolation, surfaceViolations } from './layers.ts';

/**
 * The Node hosts stay apart: the relay-bridge, the Node client and the onion-service host each
 * import only the protocol core (shared/), what every Node host shares (node-platform/) and their
 * own folder; node-platform/ imports only shared/; the command line (cli/) may start any host but
 * takes nothing from the developer tools. Something two hosts both need belongs in node-platform/
 * (or shared/), not in one host for the other to reach into. Tests next to the code follow the
 * same rule.
 */
const root = new URL('..', import.meta.url).pathname;

/** Each host folder and the top-level folders it may import from (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  'relay-bridge': ['shared', 'node-platform'],
  'node-client': ['shared', 'node-platform'],
  'onion-host': ['shared', 'node-platform'],
  'node-platform': ['shared'],
  cli: ['shared', 'node-platform', 'relay-bridge', 'node-client', 'onion-host'],
};

interface SourceFile {
  /** Path from the repository root, with forward slashes. */
  readonly path: string;
  readonly src: string;
}

/** "FILE imports SPEC (FOLDER)" for every import that leaves its host for a folder it may not use. */
function violations(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const host = f.path.split('/')[0]!;
    const allowed = ALLOWED[host];
    if (!allowed) continue;
    for (const spec of relativeSpecifiers(f.src)) {
      const target = normalize(join(dirname(f.path), spec.replace(/\?.*$/, '')));
      const folder = target.split('/')[0]!;
      if (folder !== host && !allowed.includes(folder)) out.push(`${f.path} imports ${spec} (${folder}/)`);
    }
  }
  return out;
}

describe('Node host boundaries', () => {
  const files: SourceFile[] = Object.keys(ALLOWED).flatMap((host) =>
    sourceFiles(join(root, host)).map((p) => ({ path: relative(root, p), src: readFileSync(p, 'utf8') })));

  it('finds the hosts\' files', () => {
    for (const host of Object.keys(ALLOWED)) expect(files.some((f) => f.path.startsWith(`${host}/`)), host).toBe(true);
  });

  it('no host imports another host, and node-platform/ imports only shared/', () => {
    expect(violations(files)).toEqual([]);
  });

  it('the check catches what it is meant to catch', () => {
    const fixture: SourceFile[] = [
      { path: 'relay-bridge/relay/relay.ts', src: "import { dirPortGet } from '../../node-client/dirport.ts';\nimport { FileStore } from '../../node-platform/file-store.ts';" },
      { path: 'onion-host/service-dir.ts', src: "import { KeyDirectory } from '../relay-bridge/relay/key-files.ts';" },
      { path: 'node-platform/pipe.test.ts', src: "import { endReasonForError } from '../relay-bridge/relay/exit.ts';" },
      { path: 'cli/start.ts', src: "const { launch } = await import('../testnet/chromium.ts');" },
      { path: 'node-client/socks.ts', src: "export { SocksReply } from './socks-reply.ts';\nimport type { TorStream } from '../shared/stream/stream.ts';" },
      { path: 'cli/relay.ts', src: "import { RelayBridge } from '../relay-bridge/relay/relay.ts';" },
    ];
    expect(violations(fixture)).toEqual([
      'relay-bridge/relay/relay.ts imports ../../node-client/dirport.ts (node-client/)',
      'onion-host/service-dir.ts imports ../relay-bridge/relay/key-files.ts (relay-bridge/)',
      'node-platform/pipe.test.ts imports ../relay-bridge/relay/exit.ts (relay-bridge/)',
      'cli/start.ts imports ../testnet/chromium.ts (testnet/)',
    ]);
  });
});

/**
 * Outside shared/, every host, the extension, the harness, benchmarks and e2e use the core through
 * its layers' public surfaces (scripts/layers.ts, surfaceViolations): `shared/<layer>/index.ts`
 * or the top file selfcheck.ts, never a file inside a layer; tests may also take test support and
 * fixtures.
 */
describe('shared/ seen from outside: layers through their index.ts', () => {
  /** Not source of the project: dependencies, build output, test artefacts, dot folders. */
  const NOT_SOURCE = new Set(['shared', 'node_modules', 'dist', 'test-results']);
  const outside = new Map<string, string>();
  for (const name of readdirSync(root)) {
    if (NOT_SOURCE.has(name) || name.startsWith('.')) continue;
    const p = join(root, name);
    const paths = statSync(p).isDirectory() ? sourceFiles(p) : /\.(ts|js|mjs)$/.test(name) ? [p] : [];
    for (const f of paths) {
      const path = relative(root, f);
      // The import checks' own tests write imports as fixture strings; the scanner reads text.
      if (path.startsWith('scripts/') && path.endsWith('.test.ts')) continue;
      outside.set(path, readFileSync(f, 'utf8'));
    }
  }

  it('reads every folder that uses shared/', () => {
    for (const folder of ['relay-bridge', 'node-client', 'onion-host', 'node-platform', 'cli', 'extension', 'testnet', 'bench', 'e2e']) {
      expect([...outside.keys()].some((f) => f.startsWith(`${folder}/`)), folder).toBe(true);
    }
  });

  it('no file outside shared/ imports a shared/ file other than a layer\'s index.ts or selfcheck.ts', () => {
    expect(surfaceViolations(outside).map(describeSurfaceViolation)).toEqual([]);
  });

  it('the check flags deep imports and passes index imports', () => {
    const fixture = new Map([
      ['node-client/socks.ts', [
        "import { SocksServerHandshake } from '../shared/socks/index.ts';",
        "import type { TorStream } from '../shared/stream/stream.ts';",
      ].join('\n')],
      ['extension/background.ts', [
        "import { runSelfcheck } from '../shared/selfcheck.ts';",
        "const { TorClient } = await import('../shared/client/tor-client.ts');",
        "export { toHex } from '../shared/bytes/util.ts';",
      ].join('\n')],
      ['relay-bridge/net/throttle.test.ts', "import { FakeTime } from '../../shared/testing/fake-time.ts';\nimport { TokenBucket } from '../../shared/util/index.ts';"],
      ['relay-bridge/net/throttle.ts', "import { FakeTime } from '../../shared/testing/fake-time.ts';"],
      ['e2e/relay-bridge.e2e.test.ts', "import raw from '../shared/netdoc/fixtures/consensus.txt?raw';\nimport { Channel } from '../shared/channel/channel.ts';"],
      ['testnet/plan.ts', "import { x } from '../shared/congestion/index.ts';\nimport { y } from '../shared/selfcheck.test.ts';"],
      ['bench/run.ts', "import { Circuit } from '../shared/circuit/index.ts';\nimport { z } from '../testnet/index.ts';"],
      ['shared/channel/channel.ts', "import { Reader } from '../bytes/reader.ts';"],
    ]);
    expect(surfaceViolations(fixture).map(describeSurfaceViolation)).toEqual([
      'node-client/socks.ts:2 imports ../shared/stream/stream.ts: reaches into stream/ past its index.ts: import shared/stream/index.ts',
      'extension/background.ts:2 imports ../shared/client/tor-client.ts: reaches into client/ past its index.ts: import shared/client/index.ts',
      'extension/background.ts:3 imports ../shared/bytes/util.ts: reaches into bytes/ past its index.ts: import shared/bytes/index.ts',
      'relay-bridge/net/throttle.ts:1 imports ../../shared/testing/fake-time.ts: test support (shared/testing/fake-time.ts) imported by product code',
      'e2e/relay-bridge.e2e.test.ts:2 imports ../shared/channel/channel.ts: reaches into channel/ past its index.ts: import shared/channel/index.ts',
      'testnet/plan.ts:1 imports ../shared/congestion/index.ts: shared/congestion/ is not in the layer table (scripts/layers.ts)',
      'testnet/plan.ts:2 imports ../shared/selfcheck.test.ts: imports a test',
    ]);
  });
});
