import { describe, expect, it } from 'vitest';
import { DirectoryState } from '../shared/directory/index.ts';
import { parseAuthCerts } from '../shared/netdoc/index.ts';
import { CertificateError, UsageError } from '../shared/util/index.ts';
import { thrown } from '../shared/testing/thrown.ts';
import { benchDirectory } from './bench-directory.ts';
import td2Consensus from '../shared/netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../shared/netdoc/fixtures/testdata2/cached-certs.txt?raw';
import td2Microdescs from '../shared/netdoc/fixtures/testdata2/cached-microdescs.txt?raw';

/** benchDirectory parses and verifies again what a client holds (a tor 0.4.9 test network's documents). */
const now = new Date('2000-01-01T00:02:30Z');
const v3idents = parseAuthCerts(td2Certs).map((c) => c.unchecked.fingerprint);

function loaded(): DirectoryState {
  const s = new DirectoryState(v3idents.map((fingerprint) => ({ fingerprint })), { random: () => 0 });
  s.addCerts(td2Certs, now);
  expect(s.addConsensus(td2Consensus, now)).toBe('accepted');
  s.nextRequests(now);
  s.addMicrodescs(td2Microdescs);
  return s;
}

describe('benchDirectory', () => {
  it('reports the sizes of the consensus and of every microdescriptor held, and times for each step', () => {
    const r = benchDirectory(loaded(), v3idents, now);
    expect(r.consensusBytes).toBe(td2Consensus.length);
    expect(r.microdescBytes).toBe(td2Microdescs.length);
    for (const ms of [r.consensusParseMs, r.consensusVerifyMs, r.microdescParseMs]) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('verifies for real: authorities that did not sign it make it fail', () => {
    expect(thrown(() => benchDirectory(loaded(), ['AB'.repeat(20)], now))).toBeInstanceOf(CertificateError);
  });

  it('a client without a consensus yet is a UsageError', () => {
    expect(thrown(() => benchDirectory(new DirectoryState([{ fingerprint: v3idents[0]! }]), v3idents, now))).toBeInstanceOf(UsageError);
  });
});
