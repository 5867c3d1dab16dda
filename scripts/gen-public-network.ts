/**
 * Writes shared/directory/public-network.ts, the public Tor network's directory authorities and
 * fallback directories, from tor's own lists: src/app/config/auth_dirs.inc and fallback_dirs.inc.
 *
 *   node --import tsx scripts/gen-public-network.ts AUTH_DIRS.inc FALLBACK_DIRS.inc \
 *     --source 'tor VERSION, commit HASH' [--out shared/directory/public-network.ts]
 *
 * Those files are C: string literals (adjacent ones concatenated, as C does) separated by commas,
 * with comments. Each authority string is a DirAuthority line's value and each fallback string a
 * FallbackDir line's value, so they go through the torrc parsers of shared/config (one conversion
 * for a torrc line and the built-in list). Anything this reader does not understand (another C
 * construct, an escape, an unknown comment key, a line the parsers refuse) stops it with an error
 * naming the file, the line and its text.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirAuthorityFrom, parseDirAuthority, parseFallbackDir } from '../shared/config/index.ts';
import type { BuiltInAuthority, BuiltInBridgeAuthority, FallbackDir } from '../shared/directory/index.ts';
import { TelescopeError, UsageError } from '../shared/util/index.ts';

/** A line (or an entry over several lines) of one of tor's .inc files that the generator does not understand. */
export class IncFileError extends TelescopeError {
  readonly file: string;
  /** 1-based number of the line, or of the entry's first line. */
  readonly line: number;
  /** 1-based number of the entry's last line (`line` for a single line). */
  readonly lastLine: number;
  /** The line's text, or the entry's strings joined as the parser saw them. */
  readonly text: string;
  readonly reason: string;
  constructor(file: string, line: number, text: string, reason: string, options: { cause?: unknown; lastLine?: number } = {}) {
    const lastLine = options.lastLine ?? line;
    super(`${file}:${line}${lastLine > line ? `-${lastLine}` : ''}: ${reason}: ${text.trim()}`, {
      kind: 'config',
      ...('cause' in options ? { cause: options.cause } : {}),
    });
    this.file = file;
    this.line = line;
    this.lastLine = lastLine;
    this.text = text;
    this.reason = reason;
  }
}

/** One input file: its name (for errors) and its text. */
export interface IncFile {
  readonly name: string;
  readonly text: string;
}

/** A comment of the file: `/* ... *\/` or `// ...`, its text trimmed. */
interface Comment {
  readonly text: string;
  readonly line: number;
}

/** One entry of the array: its strings concatenated, the lines of its first and last string, and the comments between its first string and its comma. */
interface Entry {
  readonly value: string;
  readonly line: number;
  readonly lastLine: number;
  readonly comments: readonly Comment[];
}

/** The entries of a C array body made of string literals, and the comments before the first entry. */
export function readIncFile(file: IncFile): { header: Comment[]; entries: Entry[] } {
  const src = file.text;
  const lines = src.split('\n');
  const fail = (at: number, reason: string): never => {
    const line = src.slice(0, at).split('\n').length;
    throw new IncFileError(file.name, line, lines[line - 1] ?? '', reason);
  };
  const lineOf = (at: number) => src.slice(0, at).split('\n').length;
  const header: Comment[] = [];
  const entries: Entry[] = [];
  let value: string | undefined;
  let valueLine = 0;
  let valueLastLine = 0;
  let comments: Comment[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end === -1) fail(i, 'comment without its closing */');
      const comment = { text: src.slice(i + 2, end).trim(), line: lineOf(i) };
      if (value === undefined && entries.length === 0) header.push(comment);
      else comments.push(comment);
      i = end + 2;
    } else if (src.startsWith('//', i)) {
      const end = src.indexOf('\n', i);
      const stop = end === -1 ? src.length : end;
      const comment = { text: src.slice(i + 2, stop).trim(), line: lineOf(i) };
      if (value === undefined && entries.length === 0) header.push(comment);
      else comments.push(comment);
      i = stop;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        const d = src[j];
        if (d === undefined || d === '\n') fail(i, 'string literal without its closing quote');
        if (d === '"') break;
        if (d === '\\') {
          const e = src[j + 1];
          if (e !== '"' && e !== '\\') fail(j, `escape '\\${e ?? ''}' in a string literal`);
          s += e;
          j += 2;
          continue;
        }
        if (d! < ' ' || d! > '~') fail(j, `character U+${d!.codePointAt(0)!.toString(16).padStart(4, '0')} in a string literal`);
        s += d;
        j++;
      }
      if (value === undefined) {
        value = '';
        valueLine = lineOf(i);
      }
      value += s;
      valueLastLine = lineOf(i);
      i = j + 1;
    } else if (c === ',') {
      if (value === undefined) fail(i, 'a comma with no string before it');
      entries.push({ value: value!, line: valueLine, lastLine: valueLastLine, comments });
      value = undefined;
      comments = [];
      i++;
    } else {
      fail(i, `'${c}' where a string literal, comma or comment belongs`);
    }
  }
  if (value !== undefined) entries.push({ value, line: valueLine, lastLine: valueLastLine, comments });
  else if (comments.length > 0) fail(src.length - 1, 'comments after the last entry');
  return { header, entries };
}

/** What the authority list holds: the v3 authorities and the bridge authorities, in the list's order. */
export function readAuthorities(file: IncFile): { v3: BuiltInAuthority[]; bridge: BuiltInBridgeAuthority[] } {
  const lines = file.text.split('\n');
  const v3: BuiltInAuthority[] = [];
  const bridge: BuiltInBridgeAuthority[] = [];
  const { entries } = readIncFile(file);
  for (const e of entries) {
    const fail = (reason: string, cause?: unknown): never => {
      throw new IncFileError(file.name, e.line, e.value, reason, { ...(cause === undefined ? {} : { cause }), lastLine: e.lastLine });
    };
    if (e.comments.length > 0) fail('comments inside an authority entry');
    let parsed: ReturnType<typeof parseDirAuthority>;
    try {
      parsed = parseDirAuthority(e.value);
    } catch (err) {
      if (!(err instanceof TelescopeError)) throw err;
      return fail(`not a DirAuthority line (${err.message})`, err);
    }
    if (parsed.nickname === undefined) fail('an authority without a nickname');
    if (parsed.orPort === undefined) fail('an authority without orport=');
    if (parsed.noV2 || parsed.hs !== undefined || parsed.weight !== undefined) fail('no-v2, hs, no-hs or weight= on a built-in authority (the data has no place for them)');
    if (parsed.bridge) {
      if (parsed.v3ident !== undefined) fail('a bridge authority with a v3ident');
      bridge.push({ nickname: parsed.nickname!, address: parsed.address, orPort: parsed.orPort!, dirPort: parsed.dirPort, fingerprint: parsed.fingerprint, ipv6: parsed.ipv6, line: e.value });
    } else {
      if (parsed.v3ident === undefined) fail('an authority that is neither a v3 authority (v3ident=) nor a bridge authority');
      v3.push({ ...dirAuthorityFrom(parsed, v3.length), ipv6: parsed.ipv6, line: e.value });
    }
  }
  if (v3.length === 0) throw new IncFileError(file.name, 1, lines[0] ?? '', 'no v3 authority in the list');
  return { v3, bridge };
}

const FALLBACK_HEADER_KEYS: Readonly<Record<string, string | undefined>> = {
  type: 'fallback',
  version: '4.0.0',
  timestamp: undefined,
  source: undefined,
};
const FALLBACK_ENTRY_KEYS = new Set(['nickname', 'extrainfo']);

/** The fallback list: its entries, and the "Generated on:" date of its header. */
export function readFallbacks(file: IncFile): { fallbacks: FallbackDir[]; generatedOn: string } {
  const lines = file.text.split('\n');
  const failAt = (line: number, reason: string): never => {
    throw new IncFileError(file.name, line, lines[line - 1] ?? '', reason);
  };
  const { header, entries } = readIncFile(file);
  let generatedOn: string | undefined;
  const seen = new Set<string>();
  for (const c of header) {
    const gen = /^Generated on:\s*(.+)$/.exec(c.text);
    if (gen) {
      generatedOn = gen[1]!;
      continue;
    }
    if (c.text === '') continue;
    const kv = /^([a-z]+)=(.*)$/.exec(c.text);
    if (!kv || !(kv[1]! in FALLBACK_HEADER_KEYS)) failAt(c.line, 'a header comment this generator does not know');
    const want = FALLBACK_HEADER_KEYS[kv![1]!];
    if (want !== undefined && kv![2] !== want) failAt(c.line, `${kv![1]} is '${kv![2]}', this generator reads ${kv![1]}=${want}`);
    seen.add(kv![1]!);
  }
  for (const key of Object.keys(FALLBACK_HEADER_KEYS)) if (!seen.has(key)) failAt(1, `the header has no ${key}= comment`);
  if (generatedOn === undefined) failAt(1, "the header has no '// Generated on:' line");
  const fallbacks = entries.map((e) => {
    let nickname: string | undefined;
    for (const c of e.comments) {
      if (c.text === '=====') continue;
      const kv = /^([a-z0-9]+)=(.*)$/.exec(c.text);
      if (!kv || !FALLBACK_ENTRY_KEYS.has(kv[1]!)) failAt(c.line, 'a comment this generator does not know');
      if (kv![1] === 'nickname') {
        if (nickname !== undefined) failAt(c.line, 'a second nickname for one fallback');
        if (!/^[A-Za-z0-9]{1,19}$/.test(kv![2]!)) failAt(c.line, `nickname '${kv![2]}' is not a relay nickname`);
        nickname = kv![2];
      }
    }
    try {
      return { ...parseFallbackDir(e.value), nickname };
    } catch (err) {
      if (!(err instanceof TelescopeError)) throw err;
      throw new IncFileError(file.name, e.line, e.value, `not a FallbackDir line (${err.message})`, { cause: err, lastLine: e.lastLine });
    }
  });
  if (fallbacks.length === 0) failAt(1, 'no fallback in the list');
  return { fallbacks, generatedOn: generatedOn! };
}

/** A TypeScript string literal (single quotes) of printable ASCII. */
function lit(s: string): string {
  if (!/^[ -~]*$/.test(s)) throw new UsageError(`not printable ASCII: ${JSON.stringify(s)}`);
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const addrPort = (a: { address: string; port: number } | undefined) => (a === undefined ? 'undefined' : `{ address: ${lit(a.address)}, port: ${a.port} }`);
const num = (n: number | undefined) => (n === undefined ? 'undefined' : String(n));
const str = (s: string | undefined) => (s === undefined ? 'undefined' : lit(s));

/** The text of shared/directory/public-network.ts for these inputs; `source` names the tor release and commit they come from. */
export function generatePublicNetwork(authDirs: IncFile, fallbackDirs: IncFile, source: string): string {
  const { v3, bridge } = readAuthorities(authDirs);
  const { fallbacks, generatedOn } = readFallbacks(fallbackDirs);
  const out: string[] = [];
  out.push(
    `// GENERATED by scripts/gen-public-network.ts from tor's src/app/config/${basename(authDirs.name)} and`,
    `// ${basename(fallbackDirs.name)} of ${source}`,
    `// (fallback list generated on ${generatedOn}).`,
    '// Do not edit by hand: run the generator on the new lists of a later tor release instead.',
    '',
    '/**',
    " * The public Tor network's directory authorities and fallback directories as tor builds them in",
    ' * (addresses, ports and identities: facts about the network), from',
    ` * ${source}.`,
    ' *',
    ' * They are meant as the default of every Telescope part (the client, the extension, the relay)',
    ' * that is given no DirAuthority line, with the fallbacks as the first directory sources of a',
    ' * bootstrap and the v3 authorities as the consensus signers; a private network names its own',
    ' * authorities instead. The bridge authority collects bridge descriptors and signs no consensus:',
    ' * it is kept apart from the v3 authorities.',
    ' */',
    "import type { BuiltInAuthority, BuiltInBridgeAuthority, FallbackDir } from './authority.ts';",
    '',
    '/** Where these lists come from. */',
    'export const PUBLIC_NETWORK_SOURCE = {',
    `  tor: ${lit(source)},`,
    `  fallbacksGeneratedOn: ${lit(generatedOn)},`,
    '} as const;',
    '',
    `/** The ${v3.length} v3 directory authorities, whose signatures make a consensus of the public network valid. */`,
    'export const PUBLIC_DIR_AUTHORITIES: readonly BuiltInAuthority[] = [',
  );
  for (const a of v3) {
    out.push(
      '  {',
      `    nickname: ${lit(a.nickname)}, address: ${lit(a.address)}, orPort: ${a.orPort}, dirPort: ${a.dirPort},`,
      `    fingerprint: ${lit(a.fingerprint)}, v3ident: ${lit(a.v3ident)},`,
      `    ipv6: ${addrPort(a.ipv6)},`,
      `    line: ${lit(a.line)},`,
      '  },',
    );
  }
  out.push('];', '', '/** The bridge authorities: they sign no consensus and are not among PUBLIC_DIR_AUTHORITIES. */');
  out.push('export const PUBLIC_BRIDGE_AUTHORITIES: readonly BuiltInBridgeAuthority[] = [');
  for (const a of bridge) {
    out.push(
      '  {',
      `    nickname: ${lit(a.nickname)}, address: ${lit(a.address)}, orPort: ${a.orPort}, dirPort: ${a.dirPort},`,
      `    fingerprint: ${lit(a.fingerprint)}, ipv6: ${addrPort(a.ipv6)},`,
      `    line: ${lit(a.line)},`,
      '  },',
    );
  }
  out.push('];', '', `/** The ${fallbacks.length} fallback directories. */`);
  out.push('export const PUBLIC_FALLBACK_DIRS: readonly FallbackDir[] = [');
  for (const f of fallbacks) {
    out.push(
      `  { nickname: ${str(f.nickname)}, address: ${lit(f.address)}, orPort: ${f.orPort}, dirPort: ${num(f.dirPort)}, fingerprint: ${lit(f.fingerprint)},`,
      `    ipv6: ${addrPort(f.ipv6)}, weight: ${num(f.weight)} },`,
    );
  }
  out.push('];', '');
  return out.join('\n');
}

const DEFAULT_OUT = fileURLToPath(new URL('../shared/directory/public-network.ts', import.meta.url));

function main(argv: readonly string[]): void {
  const positional: string[] = [];
  let source: string | undefined;
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--source' || a === '--out') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--source') source = v;
      else out = v;
    } else positional.push(a);
  }
  if (positional.length !== 2 || source === undefined) {
    throw new UsageError("usage: gen-public-network.ts AUTH_DIRS.inc FALLBACK_DIRS.inc --source 'tor VERSION, commit HASH' [--out FILE]");
  }
  const read = (path: string): IncFile => ({ name: path, text: readFileSync(path, 'utf8') });
  const text = generatePublicNetwork(read(positional[0]!), read(positional[1]!), source);
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-public-network: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
