import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { toBase32 } from '../../shared/bytes/index.ts';
import { encodeOnionAddress } from '../../shared/onion/index.ts';
import { PUBLIC_DIR_AUTHORITIES } from '../../shared/directory/index.ts';
import { describeAuthoritySet, parseSettings } from '../client/service.ts';
import { checkSettings, PLACEHOLDER_BRIDGE, settingLines } from './settings-check.ts';

const FP = 'A1'.repeat(20);
const BRIDGE = `telescope ws://127.0.0.1:9101/ ${FP} ed25519=${'B'.repeat(43)} ntor=${'C'.repeat(43)}`;
const AUTH = `DirAuthority test000a orport=5000 no-v2 v3ident=${'D2'.repeat(20)} 127.0.0.1:7000 ${'E3'.repeat(20)}`;

describe('checkSettings', () => {
  it('the placeholder bridge is itself a valid setting', () => {
    expect(() => parseSettings({ bridges: [PLACEHOLDER_BRIDGE], authorities: [] })).not.toThrow();
  });

  it('accepts good lines, skipping blank lines and comments, "Bridge " prefix allowed', () => {
    const r = checkSettings(`\n# my bridge\nBridge ${BRIDGE}\n`, `${AUTH}\n\n${AUTH.replace('test000a', 'test001a')}`);
    expect(r).toEqual({ ok: true, settings: { bridges: [`Bridge ${BRIDGE}`], authorities: [AUTH, AUTH.replace('test000a', 'test001a')], onionAuth: [] } });
  });

  it('takes onion client keys in tor\'s .auth_private format and names a bad one\'s line', () => {
    const address = encodeOnionAddress(ed25519.getPublicKey(new Uint8Array(32).fill(3))).replace('.onion', '');
    const key = `${address}:descriptor:x25519:${toBase32(new Uint8Array(32).fill(4))}`;
    const ok = checkSettings(BRIDGE, AUTH, `# alice\n${key}`);
    expect(ok.ok && ok.settings.onionAuth).toEqual([key]);
    expect(ok.ok && parseSettings(ok.settings).onionAuth.get(`${address}.onion`)).toEqual(new Uint8Array(32).fill(4));
    const bad = checkSettings(BRIDGE, AUTH, `${key}\n\n${address}:descriptor:x25519:AAAA`);
    expect(bad).toEqual({ ok: false, problem: { field: 'onionAuth', line: 3, message: expect.stringMatching(/^Onion client keys, line 3: an x25519 key is 32 bytes/) } });
  });

  it('names the text-box line of a bad bridge line', () => {
    const r = checkSettings(`${BRIDGE}\n\n127.0.0.1:9001 ${FP}`, AUTH);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problem.field).toBe('bridges');
    expect(r.problem.line).toBe(3);
    expect(r.problem.message).toBe('Bridge lines, line 3: the extension needs a "telescope ws[s]://…" bridge line');
  });

  it('names the text-box line of a bad authority line, with the parser\'s reason', () => {
    const r = checkSettings(BRIDGE, `${AUTH}\n# comment\nDirAuthority x orport=5000 127.0.0.1:7000 ${'E3'.repeat(20)}\n`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problem).toEqual({ field: 'authorities', line: 3, message: 'DirAuthority lines, line 3: DirAuthority x: a v3ident=HEX flag is required (only v3 authorities sign consensuses)' });
    const bad = checkSettings(BRIDGE, AUTH.replace('v3ident=', 'v3ident=XYZ'));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problem.message).toMatch(/^DirAuthority lines, line 1: .*v3ident/);
  });

  it('an empty bridge box is a problem of the box, not of a line', () => {
    const r = checkSettings('  \n# nothing\n', AUTH);
    expect(r).toEqual({ ok: false, problem: { field: 'bridges', line: undefined, message: 'No bridge configured: the extension reaches Tor through a relay-bridge' } });
    expect(checkSettings('', '').ok).toBe(false);
  });

  it('a bridge line alone is enough: the authorities are the built-in public ones', () => {
    const r = checkSettings(BRIDGE, '\n# the public network\n');
    expect(r).toEqual({ ok: true, settings: { bridges: [BRIDGE], authorities: [], onionAuth: [] } });
    if (!r.ok) return;
    const parsed = parseSettings(r.settings);
    expect(parsed.authorities.map((a) => a.v3ident)).toEqual(PUBLIC_DIR_AUTHORITIES.map((a) => a.v3ident));
    expect(parsed.authorities.map((a) => a.fingerprint)).toEqual(PUBLIC_DIR_AUTHORITIES.map((a) => a.fingerprint));
    expect(parsed.authoritySet).toEqual({
      kind: 'built-in',
      name: "Tor's public directory authorities",
      source: 'tor 0.4.9.3-alpha-dev',
      nicknames: ['moria1', 'tor26', 'dizum', 'gabelmoo', 'dannenberg', 'maatuska', 'longclaw', 'bastet', 'faravahar'],
    });
    expect(describeAuthoritySet(parsed.authoritySet)).toBe(
      "Tor's public directory authorities (built in, from tor 0.4.9.3-alpha-dev: moria1, tor26, dizum, gabelmoo, dannenberg, maatuska, longclaw, bastet, faravahar)",
    );
  });

  it('DirAuthority lines name a private network\'s set instead, and nothing of the built-in one is kept', () => {
    const parsed = parseSettings({ bridges: [BRIDGE], authorities: [AUTH, AUTH.replace('test000a', 'test001a')] });
    expect(parsed.authorities.map((a) => a.nickname)).toEqual(['test000a', 'test001a']);
    expect(parsed.authoritySet).toEqual({ kind: 'custom', nicknames: ['test000a', 'test001a'] });
    expect(describeAuthoritySet(parsed.authoritySet)).toBe('2 custom authorities: test000a, test001a');
    expect(describeAuthoritySet(parseSettings({ bridges: [BRIDGE], authorities: [AUTH] }).authoritySet)).toBe('1 custom authority: test000a');
  });

  it('any text gives a verdict, never an exception (property)', () => {
    const line = fc.oneof(fc.string(), fc.constantFrom(BRIDGE, AUTH, `telescope ${FP}`, 'telescope ws://[::1/ x', 'DirAuthority'));
    fc.assert(fc.property(fc.array(line, { maxLength: 4 }), fc.array(line, { maxLength: 4 }), (b, a) => {
      const r = checkSettings(b.join('\n'), a.join('\n'));
      if (r.ok) expect(() => parseSettings(r.settings)).not.toThrow();
      else expect(r.problem.message.length).toBeGreaterThan(0);
    }));
  });
});

describe('settingLines', () => {
  it('keeps line numbers of the text box', () => {
    expect(settingLines('a\r\n\n # c\n  b  ')).toEqual([{ line: 1, text: 'a' }, { line: 4, text: 'b' }]);
  });
});
