import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { relativeSpecifiers, sourceFiles } from './import-scan.ts';

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
