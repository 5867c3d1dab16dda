/**
 * `npm run bench -- dir-compression`: what each compression method tor's caches offer would save
 * on the public network's documents (the live consensus of 2026-01-29, 9,745 relays, and its 450
 * sample microdescriptors), so the choice of Accept-Encoding rests on numbers:
 * identity, deflate (what Telescope asks for: every platform inflates it natively), zstd and lzma
 * (tor 0.4.9 caches offer both when built with them, as Debian's is). Microdescriptors are measured
 * as caches serve them: one request of 92 at a time, compressed per answer. zstd and lzma are
 * measured with the `zstd` and `xz` commands when installed (Node 20's zlib has neither).
 * Deflate is also timed through DecompressionStream, the path the client takes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync, deflateSync } from 'node:zlib';

const FIXTURES = new URL('../shared/netdoc/fixtures/live-2026-01-29/', import.meta.url);
const MICRODESCS_PER_REQUEST = 92;

function tool(cmd: string, args: string[], input: Uint8Array): number | undefined {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.length;
}

interface Sizes { identity: number; deflate6: number; deflate9: number; zstd3?: number; zstd19?: number; xz6?: number }

function sizes(parts: Uint8Array[]): Sizes {
  const sum = (f: (p: Uint8Array) => number | undefined) => {
    let total = 0;
    for (const p of parts) {
      const n = f(p);
      if (n === undefined) return undefined;
      total += n;
    }
    return total;
  };
  const out: Sizes = {
    identity: sum((p) => p.length)!,
    deflate6: sum((p) => deflateSync(p, { level: 6 }).length)!,
    deflate9: sum((p) => deflateSync(p, { level: 9 }).length)!,
  };
  const zstd3 = sum((p) => tool('zstd', ['-3', '-c'], p));
  const zstd19 = sum((p) => tool('zstd', ['-19', '-c'], p));
  const xz6 = sum((p) => tool('xz', ['-6', '-c'], p));
  return { ...out, ...(zstd3 !== undefined ? { zstd3 } : {}), ...(zstd19 !== undefined ? { zstd19 } : {}), ...(xz6 !== undefined ? { xz6 } : {}) };
}

const kb = (n: number | undefined) => (n === undefined ? 'n/a'.padStart(10) : `${(n / 1024).toFixed(0)} KiB`.padStart(10));
const pct = (n: number | undefined, of: number) => (n === undefined ? ''.padStart(6) : `${((100 * n) / of).toFixed(0)}%`.padStart(6));

async function inflateMs(data: Uint8Array): Promise<number> {
  const compressed = deflateSync(data, { level: 6 });
  const t0 = performance.now();
  const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream('deflate'));
  const out = new Uint8Array(await new Response(stream).arrayBuffer());
  if (out.length !== data.length) throw new Error('deflate round trip lost bytes');
  return performance.now() - t0;
}

export async function benchDirCompression(): Promise<void> {
  const consensus = new Uint8Array(brotliDecompressSync(readFileSync(new URL('consensus-microdesc.br', FIXTURES))));
  const mdText = brotliDecompressSync(readFileSync(new URL('microdescriptors-sample.br', FIXTURES))).toString('latin1');
  const mds = mdText.split(/(?=^onion-key$)/m).filter((m) => m.startsWith('onion-key'));
  const batches: Uint8Array[] = [];
  for (let i = 0; i < mds.length; i += MICRODESCS_PER_REQUEST) batches.push(new TextEncoder().encode(mds.slice(i, i + MICRODESCS_PER_REQUEST).join('')));
  console.log('\n## Directory compression on the live network of 2026-01-29 (bytes on the wire)');
  console.log('document                                  identity  deflate-6        deflate-9        zstd-3           zstd-19          lzma (xz -6)');
  const row = (name: string, s: Sizes) => console.log(
    `${name.padEnd(40)}${kb(s.identity)}${kb(s.deflate6)}${pct(s.deflate6, s.identity)} ${kb(s.deflate9)}${pct(s.deflate9, s.identity)} ${kb(s.zstd3)}${pct(s.zstd3, s.identity)} ${kb(s.zstd19)}${pct(s.zstd19, s.identity)} ${kb(s.xz6)}${pct(s.xz6, s.identity)}`,
  );
  const c = sizes([consensus]);
  row('consensus (9,745 relays)', c);
  const m = sizes(batches);
  row(`${mds.length} microdescs in ${batches.length} answers of ${MICRODESCS_PER_REQUEST}`, m);
  const scale = 9_745 / mds.length;
  const est = (n: number | undefined) => (n === undefined ? undefined : Math.round(n * scale));
  row('  → all 9,745 microdescs (scaled)', { identity: est(m.identity)!, deflate6: est(m.deflate6)!, deflate9: est(m.deflate9)!, ...(m.zstd3 ? { zstd3: est(m.zstd3)! } : {}), ...(m.zstd19 ? { zstd19: est(m.zstd19)! } : {}), ...(m.xz6 ? { xz6: est(m.xz6)! } : {}) });
  if (c.zstd19 !== undefined) console.log(`zstd-19 over deflate-6: consensus −${(((c.deflate6 - c.zstd19) / c.deflate6) * 100).toFixed(0)}%, microdesc answers −${m.zstd19 !== undefined ? (((m.deflate6 - m.zstd19) / m.deflate6) * 100).toFixed(0) : '?'}%`);
  else console.log('(zstd and xz not installed: only deflate measured)');
  console.log(`inflating the consensus through DecompressionStream: ${(await inflateMs(consensus)).toFixed(0)} ms`);
}
