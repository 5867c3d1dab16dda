import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { thrown } from '../testing/thrown.ts';
import { PUBLIC_NETWORK, PUBLIC_DIR_AUTHORITIES, PUBLIC_FALLBACK_DIRS, PUBLIC_BRIDGE_AUTHORITIES } from '../directory/index.ts';
import { builtinNetworkFrom, directoryNetworkFrom, NETWORK_SCHEMA, type NetworkOptions } from './builtin-network.ts';
import { ConfigError, parseDirAuthority, parseTorrc } from './torrc.ts';
import { parseFallbackDir } from './fallback-dir.ts';

const FP1 = '1DBAD8F2AD89F0F4CB9ED87AE558904E0BD71EF3';
const V31 = '75864DA2EA4158013832750FCA0DBB8B9AF0B7E5';
const FP2 = '9315C1D9A3E30EFCCC1A2F4104AC58CF169CEEA1';
const FP3 = 'BA44A889E64B93FAA2B114E02C2A279A8555C533';
const AUTH = `DirAuthority test000a orport=29824 no-v2 v3ident=${V31} 127.0.0.1:25587 ${FP1}`;
const BRIDGE_AUTH = `DirAuthority bauth orport=9001 bridge 127.0.0.2:9030 ${FP3}`;
const FALLBACK = `FallbackDir 127.0.0.3 orport=5001 id=${FP2}`;

const configError = (f: () => unknown): ConfigError => {
  const e = thrown(f);
  expect(e).toBeInstanceOf(ConfigError);
  return e as ConfigError;
};

describe('builtinNetworkFrom: the file that replaces the built-in network', () => {
  it('reads DirAuthority lines (v3 and bridge) and FallbackDir lines with the torrc parsers', () => {
    const net = builtinNetworkFrom(`# a loopback stand-in\n${AUTH}\n${BRIDGE_AUTH}\n${FALLBACK}\n`);
    expect(net.authorities).toEqual([{ nickname: 'test000a', address: '127.0.0.1', orPort: 29824, dirPort: 25587, fingerprint: FP1, v3ident: V31 }]);
    expect(net.bridgeAuthorities).toEqual([{ nickname: 'bauth', address: '127.0.0.2', orPort: 9001, dirPort: 9030, fingerprint: FP3 }]);
    expect(net.fallbacks).toEqual([parseFallbackDir(FALLBACK)]);
  });

  it('refuses a file without a v3 authority, other options, and malformed lines, naming the line', () => {
    expect(configError(() => builtinNetworkFrom(FALLBACK)).reason).toMatch(/^no DirAuthority lines/);
    expect(configError(() => builtinNetworkFrom(BRIDGE_AUTH)).reason).toMatch(/only bridge authorities/);
    const unknown = configError(() => builtinNetworkFrom(`${AUTH}\nSocksPort 9050\n`));
    expect(unknown.line).toBe(2);
    expect(unknown.reason).toMatch(/unknown option 'SocksPort'/);
    const bad = configError(() => builtinNetworkFrom(`${AUTH}\nFallbackDir 127.0.0.1 id=${FP2}\n`));
    expect(bad.line).toBe(2);
    expect(bad.reason).toBe('FallbackDir: missing orport=N');
    expect(configError(() => builtinNetworkFrom(`DirAuthority x orport=1 127.0.0.1:2 ${FP1}`)).reason).toMatch(/v3ident=HEX flag is required/);
  });

  it('the public network\'s own lines read back as the built-in public network', () => {
    const text = [
      ...PUBLIC_DIR_AUTHORITIES.map((a) => `DirAuthority ${a.line}`),
      ...PUBLIC_BRIDGE_AUTHORITIES.map((a) => `DirAuthority ${a.line}`),
      ...PUBLIC_FALLBACK_DIRS.map((f) => `FallbackDir ${f.address} orport=${f.orPort} id=${f.fingerprint}${f.ipv6 ? ` ipv6=[${f.ipv6.address}]:${f.ipv6.port}` : ''}`),
    ].join('\n');
    const net = builtinNetworkFrom(text);
    expect(net.authorities).toEqual(PUBLIC_DIR_AUTHORITIES.map(({ nickname, address, orPort, dirPort, fingerprint, v3ident }) => ({ nickname, address, orPort, dirPort, fingerprint, v3ident })));
    expect(net.bridgeAuthorities).toEqual(PUBLIC_BRIDGE_AUTHORITIES.map(({ nickname, address, orPort, dirPort, fingerprint }) => ({ nickname, address, orPort, dirPort, fingerprint })));
    expect(net.fallbacks).toEqual(PUBLIC_FALLBACK_DIRS.map((f) => ({ ...f, nickname: undefined })));
  });

  it('random text gives a network or a ConfigError, never another exception', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => {
      try {
        builtinNetworkFrom(text);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
      }
    }));
    const line = fc.constantFrom('DirAuthority ', 'FallbackDir ', '# ', '');
    fc.assert(fc.property(fc.array(fc.tuple(line, fc.string({ maxLength: 60 })), { maxLength: 6 }), (lines) => {
      try {
        builtinNetworkFrom(lines.map(([k, v]) => k + v).join('\n'));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
      }
    }));
  });
});

describe('directoryNetworkFrom: tor\'s choice of authorities and fallbacks', () => {
  const options = (text: string): NetworkOptions => parseTorrc(text, NETWORK_SCHEMA);
  const loopback = builtinNetworkFrom(`${AUTH}\n${FALLBACK}`);

  it('no DirAuthority: the built-in network, the public one by default, with its fallbacks', () => {
    expect(directoryNetworkFrom(options(''))).toEqual(PUBLIC_NETWORK);
    expect(directoryNetworkFrom(options(''), loopback)).toEqual(loopback);
  });

  it('FallbackDir lines replace the built-in fallbacks; UseDefaultFallbackDirs 0 leaves none', () => {
    const fb = `FallbackDir 192.0.2.9 orport=443 id=${FP3}`;
    expect(directoryNetworkFrom(options(fb))).toEqual({ ...PUBLIC_NETWORK, fallbacks: [parseFallbackDir(fb)] });
    expect(directoryNetworkFrom(options(`${fb}\nUseDefaultFallbackDirs 0`)).fallbacks).toEqual([parseFallbackDir(fb)]);
    expect(directoryNetworkFrom(options('UseDefaultFallbackDirs 0'))).toEqual({ ...PUBLIC_NETWORK, fallbacks: [] });
  });

  it('DirAuthority lines: a private network, with no fallbacks but the FallbackDir lines given', () => {
    expect(directoryNetworkFrom(options(AUTH))).toEqual({ authorities: loopback.authorities, fallbacks: [], bridgeAuthorities: [] });
    expect(directoryNetworkFrom(options(`${AUTH}\n${BRIDGE_AUTH}\n${FALLBACK}\nTestingTorNetwork 1`))).toEqual({
      authorities: loopback.authorities, fallbacks: loopback.fallbacks, bridgeAuthorities: [{ nickname: 'bauth', address: '127.0.0.2', orPort: 9001, dirPort: 9030, fingerprint: FP3 }],
    });
    expect(configError(() => directoryNetworkFrom(options(BRIDGE_AUTH))).reason).toMatch(/only bridge authorities/);
  });

  it('TestingTorNetwork needs DirAuthority lines, even when the built-in network is replaced', () => {
    expect(configError(() => directoryNetworkFrom(options('TestingTorNetwork 1'))).reason).toMatch(/^TestingTorNetwork 1 needs DirAuthority lines/);
    expect(configError(() => directoryNetworkFrom(options('TestingTorNetwork 1'), loopback)).reason).toMatch(/^TestingTorNetwork 1 needs DirAuthority lines/);
  });

  it('keeps the DirAuthority parser\'s errors', () => {
    expect(() => parseDirAuthority('')).toThrow(ConfigError);
  });
});
