import { describe, expect, it } from 'vitest';
import { parseAuthCerts, parseConsensus, parseMicrodescs } from '../netdoc/index.ts';
import md1 from '../netdoc/fixtures/dirmgr/mdconsensus1.txt?raw';
import cert5696 from '../netdoc/fixtures/dirmgr/cert-5696.txt?raw';
import cert5A23 from '../netdoc/fixtures/dirmgr/cert-5A23.txt?raw';
import cert7C47 from '../netdoc/fixtures/dirmgr/cert-7C47.txt?raw';
import { buildNetDir } from './build.ts';

/** dirmgr: mdconsensus1 and its three certificates. */
const md1Now = new Date('2020-08-07T12:43:00Z');
const md1Certs = cert5696 + cert5A23 + cert7C47;
const md1Auths = parseAuthCerts(md1Certs).map((c) => ({ fingerprint: c.unchecked.fingerprint }));

describe('buildNetDir', () => {
  it('buildNetDir maps family entries to upper-case fingerprints and reads IPv6 addresses', () => {
    const cert = parseAuthCerts(md1Certs).map((x) => x.check(md1Now));
    const consensus = parseConsensus(md1).check(md1Auths, cert, md1Now);
    const first = consensus.routers[0]!;
    const text = `onion-key\nntor-onion-key ${'A'.repeat(43)}\nfamily $${'ab'.repeat(20)}~nick $${'CD'.repeat(20)}=x ${'ef'.repeat(20)}\nfamily-ids ed25519:abc\np accept 80\n`;
    const [md] = parseMicrodescs(text);
    const dir = buildNetDir(consensus, new Map([[first.microdescDigestBase64, md!]]));
    expect(dir.relays.length).toBe(1);
    const r = dir.relays[0]!;
    expect(r.nickname).toBe('test002a');
    expect(r.family).toEqual(['AB'.repeat(20), 'CD'.repeat(20), 'EF'.repeat(20)]);
    expect(r.familyIds).toEqual(['ed25519:abc']);
    expect(r.ipv6).toEqual({ address: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), port: 5002 });
    expect(r.exitPolicy.allowsPort(80)).toBe(true);
    expect(r.exitPolicy.allowsPort(81)).toBe(false);
    expect(r.bandwidth).toBe(0);
  });
});
