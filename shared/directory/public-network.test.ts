import { describe, expect, it } from 'vitest';
import { parseIp } from '../addr/index.ts';
import { PUBLIC_BRIDGE_AUTHORITIES, PUBLIC_DIR_AUTHORITIES, PUBLIC_FALLBACK_DIRS, PUBLIC_NETWORK_SOURCE } from './public-network.ts';

const HEX40 = /^[0-9A-F]{40}$/;
const isPort = (p: number | undefined) => p !== undefined && Number.isInteger(p) && p >= 1 && p <= 65535;
const isIpv4 = (a: string) => parseIp(a)?.family === 4;
const isIpv6 = (a: { address: string; port: number } | undefined) => a === undefined || (parseIp(a.address)?.family === 6 && isPort(a.port));

/**
 * The built-in public network, as generated from tor's lists (the generator's own test proves the
 * file is what the lists say, through the torrc parsers).
 */
describe('the public network\'s built-in directory', () => {
  it('says which tor it comes from', () => {
    expect(PUBLIC_NETWORK_SOURCE.tor).toMatch(/^tor 0\.4\.9\.[0-9]+\S*, commit [0-9a-f]{40}$/);
    expect(PUBLIC_NETWORK_SOURCE.fallbacksGeneratedOn).not.toBe('');
  });

  it('has the nine v3 authorities that vote (tor\'s own tests count nine at this release), the bridge authority kept apart', () => {
    expect(PUBLIC_DIR_AUTHORITIES.map((a) => a.nickname)).toEqual(
      ['moria1', 'tor26', 'dizum', 'gabelmoo', 'dannenberg', 'maatuska', 'longclaw', 'bastet', 'faravahar'],
    );
    expect(PUBLIC_BRIDGE_AUTHORITIES.map((a) => a.nickname)).toEqual(['Serge']);
    expect(PUBLIC_BRIDGE_AUTHORITIES[0]).not.toHaveProperty('v3ident');
    const bridgeIds = new Set(PUBLIC_BRIDGE_AUTHORITIES.map((a) => a.fingerprint));
    expect(PUBLIC_DIR_AUTHORITIES.filter((a) => bridgeIds.has(a.fingerprint))).toEqual([]);
  });

  it('gives every authority well-formed, distinct identities and addresses', () => {
    const all = [...PUBLIC_DIR_AUTHORITIES, ...PUBLIC_BRIDGE_AUTHORITIES];
    for (const a of all) {
      expect(a.fingerprint, a.nickname).toMatch(HEX40);
      expect(isIpv4(a.address), a.nickname).toBe(true);
      expect(isPort(a.orPort) && isPort(a.dirPort), a.nickname).toBe(true);
      expect(isIpv6(a.ipv6), a.nickname).toBe(true);
      expect(a.line, a.nickname).toMatch(new RegExp(`^${a.nickname} `));
    }
    for (const a of PUBLIC_DIR_AUTHORITIES) expect(a.v3ident, a.nickname).toMatch(HEX40);
    const ids = [...all.map((a) => a.fingerprint), ...PUBLIC_DIR_AUTHORITIES.map((a) => a.v3ident)];
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(all.map((a) => a.nickname)).size).toBe(all.length);
    expect(new Set(all.map((a) => a.address)).size).toBe(all.length);
  });

  it('has tor\'s 200 fallbacks, each well-formed, no relay twice', () => {
    expect(PUBLIC_FALLBACK_DIRS).toHaveLength(200);
    for (const f of PUBLIC_FALLBACK_DIRS) {
      expect(f.fingerprint).toMatch(HEX40);
      expect(isIpv4(f.address), f.fingerprint).toBe(true);
      expect(isPort(f.orPort), f.fingerprint).toBe(true);
      expect(f.dirPort === undefined || isPort(f.dirPort), f.fingerprint).toBe(true);
      expect(isIpv6(f.ipv6), f.fingerprint).toBe(true);
      expect(f.nickname, f.fingerprint).toMatch(/^[A-Za-z0-9]{1,19}$/);
    }
    expect(new Set(PUBLIC_FALLBACK_DIRS.map((f) => f.fingerprint)).size).toBe(200);
    expect(new Set(PUBLIC_FALLBACK_DIRS.map((f) => `${f.address}:${f.orPort}`)).size).toBe(200);
  });
});
