import { posix } from 'node:path';
import { importSites } from './import-scan.ts';

/**
 * The layers of shared/, bottom to top. A file may import its own layer's files and the layers
 * below it, those through their index.ts (the layer's public surface); never a layer above. The
 * top files (selfcheck.ts) sit above every layer. The README and the architecture notes print this
 * table; a new folder in shared/ must be placed in it (the layer test fails until it is).
 */
export const LAYERS: readonly { readonly folder: string; readonly holds: string }[] = [
  { folder: 'util', holds: 'typed errors, the logger and key-value store interfaces, the unexpected-error counter, the token bucket' },
  { folder: 'bytes', holds: 'byte reader and writer, hex/base64/base32, open enums' },
  { folder: 'addr', holds: 'IP addresses as text and bytes' },
  { folder: 'policy', holds: 'exit policies and their port summaries' },
  { folder: 'cells', holds: 'channel cells and relay messages, their codecs, link specifiers' },
  { folder: 'crypto', holds: 'circuit handshakes behind one interface (ntor, CREATE_FAST), hop keys and tor1 relay crypto, AES-CTR, RSA, Ed25519 and X.509 certificates' },
  { folder: 'channel', holds: 'the link handshake (VERSIONS, CERTS, NETINFO), circuit-id map, byte transports' },
  // Below circuit/: a stream talks to its circuit through the StreamCarrier interface, and
  // circuits (client and relay side) create streams.
  { folder: 'stream', holds: 'a duplex byte stream over a circuit, and its flow control' },
  { folder: 'circuit', holds: 'building and extending circuits, leaky-pipe relay cells, congestion control (fixed SENDME windows today)' },
  { folder: 'netdoc', holds: 'directory documents: the netdoc tokenizer, consensus, microdescriptors, authority certificates, router descriptors' },
  { folder: 'netdir', holds: 'the network view: NetDir and NetRelay built from a verified consensus and its microdescriptors' },
  { folder: 'directory', holds: 'the directory bootstrap as an I/O-free state machine (DirectoryState), authority info, the public network\'s authorities and fallbacks' },
  { folder: 'path', holds: 'path selection (weights, families, exit ports) and guards' },
  { folder: 'config', holds: 'torrc parsing for the options the core knows' },
  { folder: 'http', holds: 'HTTP/1.1 over a stream, proxy URLs' },
  { folder: 'socks', holds: 'the I/O-free SOCKS5 codec' },
  { folder: 'circmgr', holds: 'circuit management: channel pool, circuits for streams and isolation, bridges, directory fetches' },
  { folder: 'onion', holds: 'onion services v3: addresses, keys, descriptors, HSDir ring, client and service' },
  { folder: 'client', holds: 'the TorClient facade: bootstrap, status, streams to exits and onion services' },
  { folder: 'relay', holds: 'the relay side: circuit switch, relay circuits, directory server, DoS defences' },
];

/** The top files (selfcheck.ts), above every layer. */
export const TOP = '';

/** Test support: imported only by tests (and by itself); it may import any layer. */
export const TEST_SUPPORT = 'testing';

export interface LayerViolation {
  /** Path inside shared/. */
  readonly file: string;
  readonly line: number;
  readonly spec: string;
  readonly why: string;
}

const rank = new Map(LAYERS.map((l, i) => [l.folder, i]));
rank.set(TOP, LAYERS.length);

/** The layer a path inside shared/ belongs to: its first folder, or TOP for a file at the top. */
export function layerOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 1 ? parts[0]! : TOP;
}

const isTestCode = (path: string) =>
  /\.test\.ts$/.test(path) || path.split('/').includes('fixtures') || layerOf(path) === TEST_SUPPORT;

const name = (layer: string) => (layer === TOP ? 'the top files' : `${layer}/`);

/**
 * Every import among `files` (path inside shared/ → source) that breaks the layering: one that
 * climbs the table, reaches into another layer other than through its index.ts, imports its own
 * layer's index.ts (a cycle waiting to happen), brings test support or fixtures into product code,
 * or leaves shared/ (only Node-only tests, `*.node.test.ts`, may use a Node host as their peer);
 * and every folder the table does not place.
 */
export function layerViolations(files: ReadonlyMap<string, string>): LayerViolation[] {
  const out: LayerViolation[] = [];
  const unplaced = new Set<string>();
  for (const [file, src] of files) {
    const from = layerOf(file);
    if (from !== TEST_SUPPORT && !rank.has(from)) {
      if (!unplaced.has(from)) out.push({ file, line: 1, spec: '', why: `shared/${from}/ is not in the layer table (scripts/layers.ts): place it` });
      unplaced.add(from);
      continue;
    }
    for (const { spec, line } of importSites(src)) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue; // a package
      const v = (why: string) => out.push({ file, line, spec, why });
      const target = posix.normalize(posix.join(posix.dirname(file), spec.replace(/\?.*$/, '')));
      if (target.startsWith('../')) {
        if (!file.endsWith('.node.test.ts')) v('leaves shared/');
        continue;
      }
      const to = layerOf(target);
      if (to === TEST_SUPPORT || target.split('/').includes('fixtures')) {
        if (!isTestCode(file)) v(`test support (${target}) imported by product code`);
        continue;
      }
      if (to === from) {
        if (to !== TOP && target === `${to}/index.ts` && file !== target) v(`imports its own layer's index.ts: files of a layer import each other directly`);
        continue;
      }
      if (!rank.has(to)) {
        v(`shared/${to}/ is not in the layer table (scripts/layers.ts)`);
        continue;
      }
      if (from !== TEST_SUPPORT && rank.get(to)! > rank.get(from)!) {
        v(`climbs from ${name(from)} to ${name(to)}, which sits above it`);
        continue;
      }
      if (to !== TOP && target !== `${to}/index.ts`) v(`reaches into ${to}/ past its index.ts`);
    }
  }
  return out;
}

/** "shared/FILE:LINE imports SPEC: WHY" for a test failure message. */
export function describeViolation(x: LayerViolation): string {
  return `shared/${x.file}:${x.line}${x.spec ? ` imports ${x.spec}` : ''}: ${x.why}`;
}

/** An import of shared/ from a file outside it that does not go through a layer's public surface. */
export interface SurfaceViolation {
  /** Path from the repository root. */
  readonly file: string;
  readonly line: number;
  readonly spec: string;
  readonly why: string;
}

/**
 * Every import among `files` (path from the repository root → source; files outside shared/) that
 * names a shared/ module other than a layer's index.ts or a top file (selfcheck.ts). Hosts, the
 * extension, the harness, benchmarks and e2e use a layer as its index.ts presents it, so a layer
 * can rearrange its files without touching them. Tests (`*.test.ts`) may also import test support
 * (testing/) and fixtures directly.
 */
export function surfaceViolations(files: ReadonlyMap<string, string>): SurfaceViolation[] {
  const out: SurfaceViolation[] = [];
  for (const [file, src] of files) {
    if (file.startsWith('shared/')) continue; // the layer test's business
    const isTest = file.endsWith('.test.ts');
    for (const { spec, line } of importSites(src)) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue; // a package
      const target = posix.normalize(posix.join(posix.dirname(file), spec.replace(/\?.*$/, '')));
      if (!target.startsWith('shared/')) continue;
      const v = (why: string) => out.push({ file, line, spec, why });
      const inner = target.slice('shared/'.length);
      const layer = layerOf(inner);
      if (layer === TEST_SUPPORT || inner.split('/').includes('fixtures')) {
        if (!isTest) v(`test support (shared/${inner}) imported by product code`);
        continue;
      }
      if (layer === TOP) {
        if (inner.endsWith('.test.ts')) v('imports a test');
        continue;
      }
      if (!rank.has(layer)) v(`shared/${layer}/ is not in the layer table (scripts/layers.ts)`);
      else if (inner !== `${layer}/index.ts`) v(`reaches into ${layer}/ past its index.ts: import shared/${layer}/index.ts`);
    }
  }
  return out;
}

/** "FILE:LINE imports SPEC: WHY" for a test failure message. */
export function describeSurfaceViolation(x: SurfaceViolation): string {
  return `${x.file}:${x.line} imports ${x.spec}: ${x.why}`;
}
