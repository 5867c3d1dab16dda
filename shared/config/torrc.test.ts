import { describe, expect, expectTypeOf, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../util/index.ts';
import { toBase64 } from '../bytes/index.ts';
import {
  ConfigError,
  parseBridgeLine,
  parseByteSize,
  dirAuthorityFrom,
  parseDirAuthority,
  parseDirAuthorityLine,
  parseInterval,
  parseTorrc,
  readTorrcEntries,
  type BridgeLine,
  type DirAuthorityLine,
  type PortSetting,
  type Schema,
} from './torrc.ts';

const schema = [
  { name: 'SocksPort', kind: 'port', repeatable: true, default: '9050', portFlags: ['IsolateDestAddr', 'SessionGroup'] },
  { name: 'ORPort', kind: 'port' },
  { name: 'Nickname', kind: 'string' },
  { name: 'DataDirectory', kind: 'path', default: '/var/lib/telescope' },
  { name: 'BandwidthRate', kind: 'bytes', default: '1 GByte' },
  { name: 'NumEntryGuards', kind: 'int', min: 1, max: 10 },
  { name: 'ExitRelay', kind: 'bool' },
  { name: 'MaxCircuitDirtiness', kind: 'interval', default: '10 minutes' },
  { name: 'ExitPolicy', kind: 'exitpolicy' },
  { name: 'DirAuthority', kind: 'dirauthority' },
  { name: 'Bridge', kind: 'bridge' },
  { name: 'HiddenServicePort', kind: 'list' },
] as const satisfies Schema;

const FP = '4352E58420E68F5E40BF7C74FADDCCD9D1349413';
const FP_GROUPS = '4352 E584 20E6 8F5E 40BF 7C74 FADD CCD9 D134 9413';

/** The ConfigError a call throws (fails the test if it throws something else or nothing). */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('torrc line syntax (tor doc/torrc_format.txt examples)', () => {
  const one = (text: string): [string, string] => {
    const entries = readTorrcEntries(text);
    expect(entries).toHaveLength(1);
    return [entries[0]!.key, entries[0]!.value];
  };

  it('reads keys, values, spaces and comments', () => {
    expect(one('Foo Bar')).toEqual(['Foo', 'Bar']);
    expect(one('Foo    Bar    Baz')).toEqual(['Foo', 'Bar    Baz']);
    expect(one('Foo    Bar    Baz    \n')).toEqual(['Foo', 'Bar    Baz']);
    expect(one('Hello World   #today')).toEqual(['Hello', 'World']);
    expect(one('Hello World#tomorrow')).toEqual(['Hello', 'World']);
    expect(one('  \t Indented value  ')).toEqual(['Indented', 'value']);
    expect(one('Bare')).toEqual(['Bare', '']);
  });

  it('decodes quoted values as C strings', () => {
    expect(one('Hello "World!"')).toEqual(['Hello', 'World!']);
    expect(one('Hello "\\"World\\"\\nand\\nuniverse"')).toEqual(['Hello', '"World"\nand\nuniverse']);
    expect(one('Hello "a\\x41\\101\\t\\\\\\\'b" # comment')).toEqual(['Hello', "aAA\t\\'b"]);
    expect(configError(() => readTorrcEntries('Hello "World" extra')).reason).toBe('excess data after quoted string');
    expect(configError(() => readTorrcEntries('Hello "World')).reason).toBe('unterminated quoted string');
    expect(configError(() => readTorrcEntries('Hello "W\\q"')).reason).toBe('invalid escape sequence in quoted string');
    expect(configError(() => readTorrcEntries('Hello "\\0"')).reason).toBe('NUL character in quoted string');
  });

  it('joins backslash-continued lines', () => {
    expect(one('Hello\\\nWorld')).toEqual(['Hello', 'World']);
    expect(one('Hello\\\nWorld\\\nand\\\nfriends')).toEqual(['Hello', 'Worldandfriends']);
    // Backslashes not before a newline stay as they are.
    expect(one('Too \\\nMany\\\\\\\nBacksl\\ashes \\\\\nhere')).toEqual(['Too', 'Many\\\\Backsl\\ashes \\here']);
  });

  it('drops comment lines inside a continued entry, which then goes on (tor\'s "yucky part")', () => {
    const want = ['This', `entry${' '.repeat(8)}and some${' '.repeat(8)}are  silly`];
    expect(one('This entry      \\\n # has comments \\\n and some       \\\n are # generally \\\n silly')).toEqual(want);
    expect(one('This entry      \\\n # has comments\n and some       \\\n are # generally\n silly')).toEqual(want);
  });

  it('counts lines across blank lines, comments, CRLF and continuations', () => {
    const text = '# header\r\n\r\nA 1\r\n  # note\nB two \\\n  parts\n\n\tC "x" # c\nD';
    expect(readTorrcEntries(text).map((e) => [e.key, e.value, e.line])).toEqual([
      ['A', '1', 3],
      ['B', 'two   parts', 5],
      ['C', 'x', 8],
      ['D', '', 9],
    ]);
    expect(readTorrcEntries(text)[1]!.text).toBe('B two \\\n  parts');
    expect(readTorrcEntries('+HiddenServicePort 80\n/Bridge').map((e) => [e.magic, e.key])).toEqual([
      ['+', 'HiddenServicePort'],
      ['/', 'Bridge'],
    ]);
  });
});

describe('parseTorrc', () => {
  it('gives a typed record under the canonical names, with defaults', () => {
    const c = parseTorrc(
      [
        '# a relay',
        'socksport 127.0.0.1:9150 IsolateDestAddr SessionGroup=2',
        'SOCKSPORT [::1]:auto',
        'ORPort 443',
        'nickname Telescope1',
        'BandwidthRate 10 MB',
        'NumEntryGuards 3',
        'ExitRelay 1',
        'ExitPolicy accept *:80,accept *:443',
        'ExitPolicy reject *:*',
        'HiddenServicePort 80 127.0.0.1:8080',
        'HiddenServicePort 443',
      ].join('\n'),
      schema,
    );
    expect(c.SocksPort).toEqual([
      { address: '127.0.0.1', port: 9150, flags: ['IsolateDestAddr', 'SessionGroup=2'] },
      { address: '::1', port: 'auto', flags: [] },
    ]);
    expect(c.ORPort).toEqual({ address: undefined, port: 443, flags: [] });
    expect(c.Nickname).toBe('Telescope1');
    expect(c.DataDirectory).toBe('/var/lib/telescope');
    expect(c.BandwidthRate).toBe(10 * 2 ** 20);
    expect(c.NumEntryGuards).toBe(3);
    expect(c.ExitRelay).toBe(true);
    expect(c.MaxCircuitDirtiness).toBe(600);
    expect(c.ExitPolicy).toEqual(['accept *:80,accept *:443', 'reject *:*']);
    expect(c.HiddenServicePort).toEqual(['80 127.0.0.1:8080', '443']);
    expect(c.DirAuthority).toEqual([]);
    expect(c.Bridge).toEqual([]);
    // The record's types follow the schema: defaults make a value certain, lists are arrays.
    expectTypeOf(c.SocksPort).toEqualTypeOf<PortSetting[]>();
    expectTypeOf(c.ORPort).toEqualTypeOf<PortSetting | undefined>();
    expectTypeOf(c.BandwidthRate).toEqualTypeOf<number>();
    expectTypeOf(c.NumEntryGuards).toEqualTypeOf<number | undefined>();
    expectTypeOf(c.ExitRelay).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(c.DataDirectory).toEqualTypeOf<string>();
    expectTypeOf(c.ExitPolicy).toEqualTypeOf<string[]>();
    expectTypeOf(c.DirAuthority).toEqualTypeOf<DirAuthorityLine[]>();
    expectTypeOf(c.Bridge).toEqualTypeOf<BridgeLine[]>();
  });

  it('uses the defaults for an empty file', () => {
    const c = parseTorrc('\n# nothing\n', schema);
    expect(c.SocksPort).toEqual([{ address: undefined, port: 9050, flags: [] }]);
    expect(c.BandwidthRate).toBe(2 ** 30);
    expect(c.Nickname).toBeUndefined();
    expect(c.ExitRelay).toBeUndefined();
  });

  it('names the line, the option and the reason in every error', () => {
    const e = configError(() => parseTorrc('ORPort 443\n\n# x\n\n\n\nSocksPrt 9050', schema));
    expect(e.message).toBe("line 7: unknown option 'SocksPrt'; did you mean 'SocksPort'?");
    expect(e.line).toBe(7);
    expect(e.text).toBe('SocksPrt 9050');
    expect(configError(() => parseTorrc('Frobnicate 1', schema)).message).toBe("line 1: unknown option 'Frobnicate'");
    expect(configError(() => parseTorrc('# c\n\nBandwidthRate 10 MBX', schema)).message).toBe(
      "line 3: BandwidthRate: '10 MBX' is not a size",
    );
    expect(configError(() => parseTorrc('ExitRelay yes', schema)).message).toBe("line 1: ExitRelay: 'yes' is not 0 or 1");
    expect(configError(() => parseTorrc('NumEntryGuards 11', schema)).message).toBe(
      "line 1: NumEntryGuards: '11' is out of range (1..10)",
    );
    expect(configError(() => parseTorrc('NumEntryGuards three', schema)).message).toBe(
      "line 1: NumEntryGuards: 'three' is not an integer",
    );
    expect(configError(() => parseTorrc('MaxCircuitDirtiness 10 fortnights', schema)).reason).toBe(
      "MaxCircuitDirtiness: '10 fortnights' is not a time interval",
    );
    expect(configError(() => parseTorrc('Nickname', schema)).message).toBe('line 1: Nickname: missing value');
    expect(configError(() => parseTorrc('ORPort 1\nNickname a\norport 2', schema)).message).toBe(
      'line 3: ORPort given twice (first on line 1)',
    );
    expect(configError(() => parseTorrc('x\nExitPolicy acept *:80', schema)).line).toBe(1);
    expect(configError(() => parseTorrc('ExitPolicy accept *:80,\\\n  acept *:443', schema)).message).toMatch(
      /^line 1: ExitPolicy: 'acept \*:443': expected/,
    );
    expect(configError(() => parseTorrc('SocksPort 9050 IsolateEverything', schema)).message).toBe(
      "line 1: SocksPort: unknown flag 'IsolateEverything'",
    );
    expect(configError(() => parseTorrc('DirAuthority moria1 1.2.3.4:80', schema)).message).toBe(
      'line 1: DirAuthority: missing fingerprint',
    );
    expect(configError(() => parseTorrc('Bridge telescope ftp://x 00', schema)).message).toMatch(/^line 1: Bridge: /);
  });

  it('collects lists in order and empties them on "/"', () => {
    const c = parseTorrc(`Bridge 192.0.2.1:443\n+Bridge 192.0.2.2:443\n/Bridge\nBridge 192.0.2.3:9001 ${FP}`, schema);
    expect(c.Bridge).toEqual([{ kind: 'tor', transport: undefined, address: '192.0.2.3', port: 9001, fingerprint: FP, ntorOnionKey: undefined, args: [] }]);
    expect(parseTorrc('/SocksPort', schema).SocksPort).toEqual([]);
    expect(configError(() => parseTorrc('/ORPort', schema)).message).toBe("line 1: ORPort: '/' only applies to list options");
  });

  it('reads port settings as tor\'s SocksPort does', () => {
    const port = (v: string): unknown => parseTorrc(`ORPort ${v}`, schema).ORPort;
    expect(port('auto')).toEqual({ address: undefined, port: 'auto', flags: [] });
    expect(port('0')).toEqual({ address: undefined, port: 0, flags: [] });
    expect(port('localhost:9050 NoIPv6')).toEqual({ address: 'localhost', port: 9050, flags: ['NoIPv6'] });
    expect(port('[2001:DB8::1]:443')).toEqual({ address: '2001:db8::1', port: 443, flags: [] });
    for (const bad of ['65536', '127.0.0.1:0', '127.0.0.1', '::1:80', 'unix:/run/tor.sock', 'bad_host!:80', ':80']) {
      expect(() => port(bad), bad).toThrow(ConfigError);
    }
  });

  it('refuses bad schemas as a programming error', () => {
    expect(() => parseTorrc('', [{ name: 'A', kind: 'int' }, { name: 'a', kind: 'string' }])).toThrow(UsageError);
    expect(() => parseTorrc('', [{ name: 'A', kind: 'int', default: 'x' }])).toThrow(UsageError);
    expect(() => parseTorrc('', [{ name: 'A', kind: 'nope' as 'int' }])).toThrow(UsageError);
    expect(() => parseTorrc('', [{ name: 'A B', kind: 'int' }])).toThrow(UsageError);
  });
});

describe('sizes and intervals (tor manual units)', () => {
  it('reads bytes, powers of 1024 and bits', () => {
    const cases: [string, number][] = [
      ['100', 100],
      ['100 bytes', 100],
      ['1 byte', 1],
      ['10 MB', 10 * 2 ** 20],
      ['1 GBytes', 2 ** 30],
      ['1 gigabyte', 2 ** 30],
      ['500 KBits', 500 * 128],
      ['75 KBytes', 75 * 1024],
      ['600 kbits', 75 * 1024],
      ['2 mbits', 2 ** 18],
      ['1.5 MB', 1.5 * 2 ** 20],
      ['1 TB', 2 ** 40],
      ['8 tbits', 2 ** 40],
      ['7kb', 7 * 1024],
    ];
    for (const [text, n] of cases) expect(parseByteSize(text), text).toBe(n);
    for (const bad of ['10 MBX', 'MB', '-1 MB', '1 k', '1 0 MB', '', '1e3', '99999999999 TB']) {
      expect(() => parseByteSize(bad), bad).toThrow(ConfigError);
    }
  });

  it('reads intervals', () => {
    expect(parseInterval('30')).toBe(30);
    expect(parseInterval('10 minutes')).toBe(600);
    expect(parseInterval('1 day')).toBe(86400);
    expect(parseInterval('2 weeks')).toBe(1209600);
    expect(() => parseInterval('soon')).toThrow(ConfigError);
  });
});

describe('DirAuthority lines', () => {
  it('reads nickname, flags, address and a grouped fingerprint', () => {
    expect(parseDirAuthority(`moria1 orport=9201 v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA232 128.31.0.39:9231 ${FP_GROUPS}`)).toEqual({
      nickname: 'moria1',
      address: '128.31.0.39',
      dirPort: 9231,
      orPort: 9201,
      v3ident: 'F533C81CEF0BC0267857C99B2F471ADF249FA232',
      ipv6: undefined,
      fingerprint: FP,
      bridge: false,
      noV2: false,
      hs: undefined,
      weight: undefined,
    });
  });

  it('reads every flag', () => {
    const a = parseDirAuthority(
      `auth5 orport=443 no-v2 hs weight=2.5 ipv6=[2001:db8::7]:9001 v3ident=${FP.toLowerCase()} 192.0.2.5:80 ${FP.toLowerCase()}`,
    );
    expect(a).toMatchObject({ nickname: 'auth5', orPort: 443, noV2: true, hs: true, weight: 2.5, ipv6: { address: '2001:db8::7', port: 9001 }, v3ident: FP, fingerprint: FP });
    expect(parseDirAuthority(`Serge orport=9001 bridge no-hs 66.111.2.131:9030 ${FP}`)).toMatchObject({ bridge: true, hs: false });
    // Without a nickname the flags come first.
    expect(parseDirAuthority(`orport=9001 192.0.2.1:80 ${FP}`)).toMatchObject({ nickname: undefined, orPort: 9001 });
    expect(parseDirAuthority(`192.0.2.1:80 ${FP}`)).toMatchObject({ nickname: undefined, address: '192.0.2.1', dirPort: 80 });
  });

  it('refuses malformed lines, saying why', () => {
    const why = (v: string): string => configError(() => parseDirAuthority(v)).reason;
    expect(why('')).toBe('empty DirAuthority line');
    expect(why('moria1 orport=9201')).toBe('missing address:dirport');
    expect(why(`moria1 fast 1.2.3.4:80 ${FP}`)).toBe("unknown flag 'fast'");
    expect(why('moria1 1.2.3.4:80 ABCD')).toBe("fingerprint 'ABCD' is not 40 hex digits");
    expect(why(`moria1 1.2.3.4 ${FP}`)).toBe("address '1.2.3.4' has no port");
    expect(why(`moria1 [2001:db8::1]:80 ${FP}`)).toMatch(/must be IPv4/);
    expect(why(`moria1 orport=0 1.2.3.4:80 ${FP}`)).toBe('orport 0 is out of range');
    expect(why(`moria1 v3ident=XYZ 1.2.3.4:80 ${FP}`)).toBe("v3ident 'XYZ' is not 40 hex digits");
    expect(why(`moria1 ipv6=192.0.2.1:80 1.2.3.4:80 ${FP}`)).toBe("ipv6 '192.0.2.1:80' is not an IPv6 address");
    expect(why(`moria1 weight=x 1.2.3.4:80 ${FP}`)).toBe("weight 'x' is not a number");
  });

  it('becomes the DirAuthority a client uses: tor\'s names for the parts, v3ident= and orport= required', () => {
    const V3 = 'F533C81CEF0BC0267857C99B2F471ADF249FA232';
    const expected = { nickname: 'moria1', address: '128.31.0.39', orPort: 9201, dirPort: 9231, fingerprint: FP, v3ident: V3 };
    // With or without the keyword, as a torrc line or as the schema's parsed value: one result.
    expect(parseDirAuthorityLine(`DirAuthority moria1 orport=9201 no-v2 v3ident=${V3.toLowerCase()} 128.31.0.39:9231 ${FP_GROUPS}`)).toEqual(expected);
    expect(parseDirAuthorityLine(`moria1 orport=9201 v3ident=${V3} 128.31.0.39:9231 ${FP}`)).toEqual(expected);
    expect(dirAuthorityFrom(parseDirAuthority(`moria1 orport=9201 v3ident=${V3} 128.31.0.39:9231 ${FP}`), 0)).toEqual(expected);
    // A line without a nickname is named by its place among the authorities.
    expect(parseDirAuthorityLine(`orport=1 v3ident=${V3} 127.0.0.1:2 ${FP}`, 3).nickname).toBe('authority3');
    const why = (v: string): string => configError(() => parseDirAuthorityLine(v)).reason;
    expect(why(`DirAuthority a orport=1 127.0.0.1:2 ${FP}`)).toBe('DirAuthority a: a v3ident=HEX flag is required (only v3 authorities sign consensuses)');
    expect(why(`DirAuthority a v3ident=${V3} 127.0.0.1:2 ${FP}`)).toBe('DirAuthority a: an orport=N flag is required');
    expect(why('DirAuthority')).toBe('empty DirAuthority line');
    // All of a file's lines at once: each numbered by its place (none at all: the built-in
    // network, builtin-network.test.ts).
    const lines = [parseDirAuthority(`orport=1 v3ident=${V3} 127.0.0.1:2 ${FP}`), parseDirAuthority(`moria1 orport=9201 v3ident=${V3} 128.31.0.39:9231 ${FP}`)];
    expect(lines.map(dirAuthorityFrom)).toEqual([{ ...expected, nickname: 'authority0', address: '127.0.0.1', orPort: 1, dirPort: 2 }, expected]);
  });
});

describe('Bridge lines', () => {
  const key32 = toBase64(Uint8Array.from({ length: 32 }, (_, i) => i), false);
  const key32b = toBase64(Uint8Array.from({ length: 32 }, (_, i) => 255 - i));

  it('reads tor\'s plain and pluggable-transport forms', () => {
    expect(parseBridgeLine(`192.0.2.1:443 ${FP}`)).toEqual({ kind: 'tor', transport: undefined, address: '192.0.2.1', port: 443, fingerprint: FP, ntorOnionKey: undefined, args: [] });
    expect(parseBridgeLine(`192.0.2.1:9001 ${FP_GROUPS}`)).toMatchObject({ port: 9001, fingerprint: FP });
    expect(parseBridgeLine('192.0.2.1')).toMatchObject({ port: 443, fingerprint: undefined });
    // Telescope's ntor= on a plain bridge line (tor's syntax has no place for it): the key, after the fingerprint.
    expect(parseBridgeLine(`192.0.2.1:9001 ${FP_GROUPS} ntor=${key32b}`)).toMatchObject({ fingerprint: FP, ntorOnionKey: Uint8Array.from({ length: 32 }, (_, i) => 255 - i), args: [] });
    expect(parseBridgeLine(`obfs4 192.0.2.1:443 ${FP} cert=AbC+/= iat-mode=0`)).toEqual({
      kind: 'tor',
      transport: 'obfs4',
      address: '192.0.2.1',
      port: 443,
      fingerprint: FP,
      ntorOnionKey: undefined,
      args: [{ key: 'cert', value: 'AbC+/=' }, { key: 'iat-mode', value: '0' }],
    });
    expect(parseBridgeLine('snowflake [2001:db8::1]:443 url=https://x.example/ fronts=a,b')).toMatchObject({
      transport: 'snowflake',
      address: '2001:db8::1',
      fingerprint: undefined,
      args: [{ key: 'url', value: 'https://x.example/' }, { key: 'fronts', value: 'a,b' }],
    });
  });

  it('reads the Telescope WebSocket form and keeps unknown arguments', () => {
    expect(parseBridgeLine(`telescope wss://bridge.example.net:8443/tor ${FP} ed25519=${key32} ntor=${key32b} x-version=2`)).toEqual({
      kind: 'telescope',
      url: 'wss://bridge.example.net:8443/tor',
      secure: true,
      host: 'bridge.example.net',
      port: 8443,
      path: '/tor',
      fingerprint: FP,
      ed25519Identity: Uint8Array.from({ length: 32 }, (_, i) => i),
      ntorOnionKey: Uint8Array.from({ length: 32 }, (_, i) => 255 - i),
      args: [{ key: 'x-version', value: '2' }],
    });
    expect(parseBridgeLine(`telescope ws://[::1] ${FP.toLowerCase()}`)).toMatchObject({
      secure: false,
      host: '::1',
      port: 80,
      path: '/',
      fingerprint: FP,
      ed25519Identity: undefined,
      ntorOnionKey: undefined,
    });
    expect(parseBridgeLine(`Telescope WSS://127.0.0.1 ${FP}`)).toMatchObject({ secure: true, host: '127.0.0.1', port: 443 });
  });

  it('refuses malformed lines, saying why', () => {
    const why = (v: string): string => configError(() => parseBridgeLine(v)).reason;
    expect(why('')).toBe('empty Bridge line');
    expect(why('obfs4')).toBe('missing bridge address');
    expect(why('192.0.2.1:443 ABCD')).toBe("fingerprint 'ABCD' is not 40 hex digits");
    expect(why('example.com:443')).toBe("bridge address 'example.com:443' is not an IP address and port");
    expect(why('2001:db8::1:443')).toMatch(/brackets/);
    expect(why('obfs4 192.0.2.1:443 cert')).toBe("fingerprint 'cert' is not 40 hex digits");
    expect(why(`obfs4 192.0.2.1:443 ${FP} junk`)).toBe("'junk' is not key=value");
    expect(why(`192.0.2.1:443 ntor=${key32} ${FP}`)).toBe('ntor= must come last on a Bridge line');
    expect(why(`192.0.2.1:443 ${FP} ntor=AAAA`)).toBe('ntor key must be 32 bytes, not 3');
    expect(why('telescope')).toBe('telescope bridge needs a ws:// or wss:// URL');
    expect(why(`telescope https://x.example ${FP}`)).toBe("'https://x.example' is not a ws:// or wss:// URL with a host");
    expect(why(`telescope wss://bad_host ${FP}`)).toBe("'bad_host' is not a host name");
    expect(why(`telescope wss://x.example:99999 ${FP}`)).toBe('URL port 99999 is out of range');
    expect(why('telescope wss://x.example')).toBe('telescope bridge needs a fingerprint');
    expect(why(`telescope wss://x.example ${FP} ed25519=AAAA`)).toBe('ed25519 key must be 32 bytes, not 3');
    expect(why(`telescope wss://x.example ${FP} ntor=!!!`)).toBe("ntor '!!!' is not base64");
    expect(why(`telescope wss://x.example ${FP} ntor=${key32} ntor=${key32}`)).toBe('ntor given twice');
    expect(why(`telescope wss://x.example ${FP} =x`)).toBe("'=x' is not key=value");
  });
});

describe('properties', () => {
  const fullSchema = schema;

  it('random text never throws anything but ConfigError', () => {
    const token = fc.constantFrom(
      'SocksPort', 'orport', 'NICKNAME', 'DataDirectory', 'BandwidthRate', 'NumEntryGuards', 'ExitRelay',
      'MaxCircuitDirtiness', 'ExitPolicy', 'DirAuthority', 'Bridge', 'HiddenServicePort', 'Unknown',
      ' ', ' ', '\t', '\n', '\n', '\r\n', '#', '"', '\\', '\\\n', '\\x4', '\\0', '+', '/', ':', '[', ']', '=',
      '0', '1', '9050', 'auto', '10 MB', 'KBits', '1.5', 'accept *:80', 'reject', 'telescope', 'wss://', 'ws://x',
      'obfs4', '127.0.0.1', '::1', FP, FP_GROUPS, 'orport=', 'v3ident=', 'ipv6=', 'ed25519=', 'ntor=', 'AAAA', 'unix:',
    );
    const text = fc.oneof(fc.string({ maxLength: 120 }), fc.array(token, { maxLength: 40 }).map((t) => t.join('')));
    fc.assert(
      fc.property(text, (t) => {
        try {
          parseTorrc(t, fullSchema);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('random DirAuthority and Bridge values never throw anything but ConfigError', () => {
    const token = fc.constantFrom('moria1', 'orport=9001', 'orport=x', 'bridge', 'hs', 'weight=1', 'ipv6=[::1]:1', 'ipv6=[', 'v3ident=' + FP,
      '1.2.3.4:80', '1.2.3.4', '[::1]:1', FP, 'ABCD', 'obfs4', 'telescope', 'wss://h.example', 'ws://[::1]:1/p', 'k=v', '=', 'ed25519=AAAA', 'ntor=x');
    const value = fc.oneof(fc.string({ maxLength: 60 }), fc.array(token, { maxLength: 8 }).map((t) => t.join(' ')));
    fc.assert(
      fc.property(value, (v) => {
        for (const f of [parseDirAuthority, parseBridgeLine]) {
          try {
            f(v);
          } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('entries written as quoted C strings read back unchanged', () => {
    const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,15}$/);
    const value = fc.string({ maxLength: 40 }).filter((v) => !v.includes('\0'));
    const quote = (v: string): string =>
      '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r') + '"';
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 8 }), (pairs) => {
        const text = pairs.map(([k, v], i) => `${i % 2 ? '  ' : ''}${k} ${quote(v)}${i % 3 ? ' # note' : ''}`).join('\n');
        expect(readTorrcEntries(text).map((e) => [e.key, e.value])).toEqual(pairs);
      }),
    );
  });
});
