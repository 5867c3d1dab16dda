import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { thrown } from '../shared/testing/thrown.ts';
import { ConfigError, dirAuthorityFrom, parseDirAuthority, parseDirAuthorityLine, parseFallbackDir } from '../shared/config/index.ts';
import { PUBLIC_BRIDGE_AUTHORITIES, PUBLIC_DIR_AUTHORITIES, PUBLIC_FALLBACK_DIRS } from '../shared/directory/index.ts';
import { generatePublicNetwork, IncFileError, readAuthorities, readFallbacks, readIncFile, type IncFile } from './gen-public-network.ts';

/** The --source text the committed data file was generated with (fixtures/public-network/README.md). */
const SOURCE = 'tor 0.4.9.3-alpha-dev, commit d377f98a50d6ecaa32dbe09637d64b860913513d';
const fixture = (name: string): IncFile => ({ name, text: readFileSync(new URL(`fixtures/public-network/${name}`, import.meta.url), 'utf8') });
const AUTH = fixture('auth_dirs.inc');
const FALLBACK = fixture('fallback_dirs.inc');
const committed = readFileSync(new URL('../shared/directory/public-network.ts', import.meta.url), 'utf8');

const incError = (f: () => unknown): IncFileError => {
  const e = thrown(f);
  expect(e).toBeInstanceOf(IncFileError);
  return e as IncFileError;
};
/** `file` with its line `n` (1-based) replaced. */
const withLine = (file: IncFile, n: number, text: string): IncFile => {
  const lines = file.text.split('\n');
  lines[n - 1] = text;
  return { name: file.name, text: lines.join('\n') };
};

describe('gen-public-network', () => {
  it('reproduces the committed shared/directory/public-network.ts byte for byte from tor\'s lists', () => {
    expect(generatePublicNetwork(AUTH, FALLBACK, SOURCE)).toBe(committed);
  });

  it('turns each authority line into data through the torrc DirAuthority parser (one conversion)', () => {
    PUBLIC_DIR_AUTHORITIES.forEach((a, i) => {
      const { ipv6, line, ...dirAuthority } = a;
      expect(parseDirAuthorityLine(`DirAuthority ${line}`, i)).toStrictEqual(dirAuthority);
      expect(parseDirAuthority(line)).toMatchObject({ ipv6, bridge: false });
    });
    for (const b of PUBLIC_BRIDGE_AUTHORITIES) {
      const { line, ...rest } = b;
      const parsed = parseDirAuthority(line);
      expect(parsed).toMatchObject({ ...rest, bridge: true, v3ident: undefined });
      expect(thrown(() => dirAuthorityFrom(parsed, 0))).toBeInstanceOf(ConfigError);
    }
  });

  it('counts what tor\'s list holds: nine v3 authorities, one bridge authority, 200 fallbacks', () => {
    // Counted on the raw text, independently of the reader: one v3ident= per v3 authority, one
    // " bridge " flag, one orport= per fallback.
    expect(AUTH.text.match(/v3ident=/g)).toHaveLength(9);
    expect(AUTH.text.match(/ bridge /g)).toHaveLength(1);
    expect(FALLBACK.text.match(/orport=/g)).toHaveLength(200);
    const { v3, bridge } = readAuthorities(AUTH);
    expect([v3.length, bridge.length]).toEqual([9, 1]);
    expect(PUBLIC_FALLBACK_DIRS).toHaveLength(200);
    const first = PUBLIC_FALLBACK_DIRS[0]!;
    expect(first).toEqual({ ...parseFallbackDir('216.9.227.166 orport=445 id=EF8DF732D0F307F63011B81CA44257E30BEF2B5C'), nickname: 'Bens1stVPSRelayTr' });
    expect(PUBLIC_FALLBACK_DIRS.find((f) => f.fingerprint === 'AA4644F0EC589EEA2F501BB867E32E599F8169DA')?.ipv6).toEqual({ address: '2a03:4000:6:102b:c457:f3ff:feb0:a6d0', port: 9000 });
  });

  it('reads C string literals as C does: adjacent ones joined, comments skipped, escapes of quote and backslash only', () => {
    const { header, entries } = readIncFile({ name: 't.inc', text: '/* h=1 */\n// top\n"a "\n  "b" /* c */ ,\n"x\\"y\\\\z",\n' });
    expect(header.map((c) => c.text)).toEqual(['h=1', 'top']);
    expect(entries).toEqual([
      { value: 'a b', line: 3, lastLine: 4, comments: [{ text: 'c', line: 4 }] },
      { value: 'x"y\\z', line: 5, lastLine: 5, comments: [] },
    ]);
    expect(readIncFile({ name: 't.inc', text: '"a"' }).entries.map((e) => e.value)).toEqual(['a']);
  });

  it('stops at anything it does not understand, naming the file, the line and its text', () => {
    const e = incError(() => readAuthorities(withLine(AUTH, 2, '  "v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA23 "')));
    expect([e.file, e.line, e.lastLine]).toEqual(['auth_dirs.inc', 1, 3]);
    expect(e.message).toBe("auth_dirs.inc:1-3: not a DirAuthority line (v3ident 'F533C81CEF0BC0267857C99B2F471ADF249FA23' is not 40 hex digits): "
      + 'moria1 orport=9201 v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA23 128.31.0.39:9231 1A25C6358DB91342AA51720A5038B72742732498');
    expect(e.cause).toBeInstanceOf(ConfigError);

    const f = incError(() => readFallbacks(withLine(FALLBACK, 8, '"216.9.227.166 orport=445 id=EF8DF732D0F307F63011B81CA44257E30BEF2B5"')));
    expect(f.message).toBe("fallback_dirs.inc:8: not a FallbackDir line (id 'EF8DF732D0F307F63011B81CA44257E30BEF2B5' is not 40 hex digits): 216.9.227.166 orport=445 id=EF8DF732D0F307F63011B81CA44257E30BEF2B5");
    expect(f.cause).toBeInstanceOf(ConfigError);

    const why = (file: IncFile, read: (f: IncFile) => unknown) => incError(() => read(file)).message;
    expect(why(withLine(AUTH, 1, 'moria1 orport=9201 '), readAuthorities)).toBe("auth_dirs.inc:1: 'm' where a string literal, comma or comment belongs: moria1 orport=9201");
    expect(why(withLine(AUTH, 1, '"moria1 orport=9201 '), readAuthorities)).toBe('auth_dirs.inc:1: string literal without its closing quote: "moria1 orport=9201');
    expect(why(withLine(AUTH, 1, '"moria1\\t orport=9201 "'), readAuthorities)).toBe('auth_dirs.inc:1: escape \'\\t\' in a string literal: "moria1\\t orport=9201 "');
    expect(why(withLine(AUTH, 11, '"Serge orport=9001 bridge v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA232 "'), readAuthorities))
      .toBe('auth_dirs.inc:11-12: a bridge authority with a v3ident: Serge orport=9001 bridge v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA232 66.111.2.131:9030 BA44 A889 E64B 93FA A2B1 14E0 2C2A 279A 8555 C533');
    expect(why(withLine(AUTH, 11, '"Serge orport=9001 "'), readAuthorities))
      .toBe('auth_dirs.inc:11-12: an authority that is neither a v3 authority (v3ident=) nor a bridge authority: Serge orport=9001 66.111.2.131:9030 BA44 A889 E64B 93FA A2B1 14E0 2C2A 279A 8555 C533');
    expect(why(withLine(FALLBACK, 9, '/* nickname=Bens1stVPSRelayTr */ /* contact=x */'), readFallbacks))
      .toBe('fallback_dirs.inc:9: a comment this generator does not know: /* nickname=Bens1stVPSRelayTr */ /* contact=x */');
    expect(why(withLine(FALLBACK, 2, '/* version=5.0.0 */'), readFallbacks))
      .toBe("fallback_dirs.inc:2: version is '5.0.0', this generator reads version=4.0.0: /* version=5.0.0 */");
    expect(why(withLine(FALLBACK, 6, ''), readFallbacks)).toBe("fallback_dirs.inc:1: the header has no '// Generated on:' line: /* type=fallback */");
  });

  it('as a command: writes the data file, or exits 1 naming the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gen-public-network-'));
    try {
      const run = (auth: string) => spawnSync(process.execPath, [
        '--import', 'tsx', fileURLToPath(new URL('gen-public-network.ts', import.meta.url)),
        auth, fileURLToPath(new URL('fixtures/public-network/fallback_dirs.inc', import.meta.url)),
        '--source', SOURCE, '--out', join(dir, 'out.ts'),
      ], { encoding: 'utf8', timeout: 60_000 });
      const ok = run(fileURLToPath(new URL('fixtures/public-network/auth_dirs.inc', import.meta.url)));
      expect(ok.status, ok.stderr).toBe(0);
      expect(readFileSync(join(dir, 'out.ts'), 'utf8')).toBe(committed);
      const broken = join(dir, 'auth_dirs.inc');
      writeFileSync(broken, withLine(AUTH, 8, '"dizum orport=443 v3ident=E8A9C45EDE6D711294FADF8E7951F4DE6CA56B58 "  NULL').text);
      const bad = run(broken);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toBe(`gen-public-network: ${broken}:8: 'N' where a string literal, comma or comment belongs: "dizum orport=443 v3ident=E8A9C45EDE6D711294FADF8E7951F4DE6CA56B58 "  NULL\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
