/**
 * The directory's parse and verify times inside the service worker, for `npm run bench --
 * bootstrap` (`self.telescope.benchDirectory`): the consensus, certificates and microdescriptors
 * the running client holds are parsed and verified again with the calls bench/bootstrap-node.ts
 * times in Node, so the worker and Node columns compare the same work. Read-only: what it parses
 * is thrown away, the client's state is not touched.
 */
import type { DirectoryState } from '../shared/directory/index.ts';
import { parseAuthCerts, parseConsensus, parseMicrodescs } from '../shared/netdoc/index.ts';
import { UsageError } from '../shared/util/index.ts';

export interface DirectoryBenchResult {
  readonly consensusBytes: number;
  readonly consensusParseMs: number;
  /** Every signature checked against the given authorities' certificates. */
  readonly consensusVerifyMs: number;
  readonly microdescBytes: number;
  readonly microdescParseMs: number;
}

/** Time parse and verify of what `dir` holds, against the authorities with these v3 identities. */
export function benchDirectory(dir: DirectoryState, v3idents: readonly string[], now = new Date()): DirectoryBenchResult {
  const text = dir.consensusText();
  if (text === undefined) throw new UsageError('the client holds no consensus yet: bootstrap first');
  const certs = parseAuthCerts(dir.certificateTexts().map((c) => c.text).join('')).map((c) => c.check(now));
  let t = performance.now();
  const unverified = parseConsensus(text);
  const consensusParseMs = performance.now() - t;
  t = performance.now();
  unverified.check(v3idents.map((fingerprint) => ({ fingerprint })), certs, now);
  const consensusVerifyMs = performance.now() - t;
  const microdescs = dir.microdescTexts(unverified.unchecked.routers.map((r) => r.microdescDigestBase64)).join('');
  t = performance.now();
  parseMicrodescs(microdescs, { allowAnnotations: true });
  const microdescParseMs = performance.now() - t;
  return { consensusBytes: text.length, consensusParseMs, consensusVerifyMs, microdescBytes: microdescs.length, microdescParseMs };
}
