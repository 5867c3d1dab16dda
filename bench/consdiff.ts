import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync, deflateSync } from 'node:zlib';
import { toHex } from '../shared/bytes/index.ts';
import { applyConsensusDiff, consensusDigestAsSigned, generateConsensusDiff, looksLikeConsensusDiff } from '../shared/netdoc/index.ts';
import type { Testnet } from '../testnet/index.ts';
import { benchTestnet, releaseBenchTestnet } from './testnet.ts';

/**
 * `npm run bench -- consdiff`: bytes of a consensus diff against the whole consensus.
 * 1. On the private network: two consecutive consensuses from a tor 0.4.9 cache, and the diff the
 *    cache serves between them, identity and deflated; beside it our own diff of the same pair and
 *    the time to make and apply it.
 * 2. At full size: the live consensus of 2026-01-29 against a copy edited like an hour's churn.
 *    The fixture holds one real consensus only, so this is NOT a measurement of real hourly
 *    diffs: it shows generation and application time at the real size, nothing more.
 */

const CONSENSUS = '/tor/status-vote/current/consensus-microdesc';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { 'Accept-Encoding': 'identity', ...headers }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} from 127.0.0.1:${port}: no answer in 30 s`)));
    req.on('error', reject);
  });
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const ms = (t0: number) => `${(performance.now() - t0).toFixed(0)} ms`;

function row(what: string, identity: number, full: number): void {
  console.log(`  ${what.padEnd(44)} ${kb(identity).padStart(12)}   ${(100 * identity / full).toFixed(1).padStart(5)}% of the whole`);
}

async function privateNetwork(): Promise<void> {
  let testnet: Testnet | undefined;
  try {
    testnet = await benchTestnet();
    const cache = testnet.description.relays.find((r) => r.roles.includes('guard') && r.dirPort);
    if (!cache) throw new Error('the private network lists no tor cache with a DirPort');
    const first = (await get(cache.dirPort!, CONSENSUS)).body.toString('latin1');
    const digest = toHex(consensusDigestAsSigned(first)).toUpperCase();
    // The next consensus comes within one voting interval (20 s on the private network).
    let diff = '';
    for (let i = 0; i < 60 && !looksLikeConsensusDiff(diff); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const r = await get(cache.dirPort!, CONSENSUS, { 'X-Or-Diff-From-Consensus': digest });
      if (r.status === 200) diff = r.body.toString('latin1');
    }
    if (!looksLikeConsensusDiff(diff)) throw new Error('the tor cache served no diff within a minute');
    const second = applyConsensusDiff(first, diff);
    let t0 = performance.now();
    const ours = generateConsensusDiff(first, second);
    const genTime = ms(t0);
    t0 = performance.now();
    applyConsensusDiff(first, ours);
    const applyTime = ms(t0);
    console.log(`\nconsensus diff on the private network (tor ${testnet.description.torVersion}, ${(second.match(/^r /gm) ?? []).length} relays):`);
    console.log(`  ${'document'.padEnd(44)} ${'bytes'.padStart(12)}`);
    row('whole consensus (identity)', second.length, second.length);
    row('whole consensus (deflate)', deflateSync(second).length, second.length);
    row('tor\'s diff (identity)', diff.length, second.length);
    row('tor\'s diff (deflate)', deflateSync(diff).length, second.length);
    row('our diff of the same pair (identity)', ours.length, second.length);
    row('our diff of the same pair (deflate)', deflateSync(ours).length, second.length);
    console.log(`  ours: generated in ${genTime}, applied in ${applyTime}`);
  } finally {
    await releaseBenchTestnet(testnet);
  }
}

function liveSize(): void {
  const text = brotliDecompressSync(readFileSync(new URL('../shared/netdoc/fixtures/live-2026-01-29/consensus-microdesc.br', import.meta.url))).toString('latin1');
  // An hour's churn, roughly: new validity lines and signatures, 3% of the weights changed, 1% of
  // the relays gone. Invented edits of one real document, not a second real consensus.
  let n = 0;
  const edited = text
    .replace(/^valid-after .*$/m, 'valid-after 2026-01-29 07:00:00')
    .replace(/^w Bandwidth=(\d+)/gm, (m, bw: string) => (++n % 33 === 0 ? `w Bandwidth=${Number(bw) + 1}` : m))
    .replace(/^(r [^\n]*\n(?:[^r][^\n]*\n)*)/gm, (entry) => (++n % 100 === 0 ? '' : entry));
  let t0 = performance.now();
  const diff = generateConsensusDiff(text, edited);
  const genTime = ms(t0);
  t0 = performance.now();
  applyConsensusDiff(text, diff);
  const applyTime = ms(t0);
  console.log('\nconsensus diff at full size (live consensus of 2026-01-29 against an EDITED COPY: not a real hourly diff):');
  row('whole consensus (identity)', edited.length, edited.length);
  row('whole consensus (deflate)', deflateSync(edited).length, edited.length);
  row('diff to the edited copy (identity)', diff.length, edited.length);
  row('diff to the edited copy (deflate)', deflateSync(diff).length, edited.length);
  console.log(`  generated in ${genTime}, applied in ${applyTime} (SHA3-256 of 3.5 MB in JavaScript is most of it)`);
}

export async function benchConsensusDiff(): Promise<void> {
  await privateNetwork();
  liveSize();
}
