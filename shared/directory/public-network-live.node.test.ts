import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { parseAuthCerts, parseConsensus } from '../netdoc/index.ts';
import { PUBLIC_DIR_AUTHORITIES } from './public-network.ts';

/**
 * The built-in public-network authorities against what the live network actually signed: the
 * consensus of 2026-01-29 with the nine authority certificates of that day
 * (netdoc/fixtures/live-2026-01-29/README.md). A wrong or missing v3ident in the built-in list
 * would make the default client refuse the real network.
 */
const fixtures = new URL('../netdoc/fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const now = new Date('2026-01-29T07:30:00Z');
const unverified = parseConsensus(new TextDecoder().decode(brotliDecompressSync(read('consensus-microdesc.br'))));
const certs = parseAuthCerts(new TextDecoder().decode(read('authority-certs.txt'))).map((c) => c.check(now));
const builtIn = PUBLIC_DIR_AUTHORITIES.map((a) => ({ fingerprint: a.v3ident }));

describe('built-in public authorities and the live consensus of 2026-01-29', () => {
  it('are the nine authorities that signed it, and their dir-sources list the same addresses', () => {
    const signers = unverified.unchecked.signatures.map((s) => s.identity);
    expect(builtIn.map((a) => a.fingerprint).sort()).toEqual([...signers].sort());
    for (const a of PUBLIC_DIR_AUTHORITIES) {
      const source = unverified.unchecked.dirSources.find((d) => d.identity === a.v3ident)!;
      expect(source.nickname, a.v3ident).toBe(a.nickname);
      expect(source.ip, a.nickname).toBe(a.address);
      expect([source.orPort, source.dirPort], a.nickname).toEqual([a.orPort, a.dirPort]);
    }
  });

  it('accept it: all nine signatures verify with the built-in set', () => {
    expect(unverified.check(builtIn, certs, now).signedBy).toHaveLength(9);
  });
});
