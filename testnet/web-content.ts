/**
 * The test network's web content: small fixed text and three deterministic byte streams. The
 * bodies are built from SHA-256 in counter mode (block i = SHA-256(seed || u32be(i))) so that a
 * byte in the wrong place, a repeated chunk or a truncated stream changes the digest, and so that
 * the server and every checker can rebuild the bytes without storing them.
 */
import { createHash } from 'node:crypto';

export const HELLO_TEXT = 'Hello from the Telescope test network\n';

/** Paths the web server answers, with their sizes. */
export const BYTE_PATHS = {
  '/bytes/50k': 51_200,
  '/bytes/1m': 1_048_576,
  '/bytes/5m': 5_242_880,
} as const;

export type WebPath = '/hello' | keyof typeof BYTE_PATHS;

export const WEB_PATHS: readonly WebPath[] = ['/hello', ...(Object.keys(BYTE_PATHS) as (keyof typeof BYTE_PATHS)[])];

/** `size` bytes of SHA-256 counter-mode output seeded with the path, so bodies differ per path. */
export function counterStream(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const seedBytes = Buffer.from(`telescope-testnet:${seed}:`, 'utf8');
  const counter = Buffer.alloc(4);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    counter.writeUInt32BE(i, 0);
    const block = createHash('sha256').update(seedBytes).update(counter).digest();
    out.set(size - off >= 32 ? block : block.subarray(0, size - off), off);
  }
  return out;
}

/** The body served at `path`. */
export function bodyFor(path: WebPath): Uint8Array {
  if (path === '/hello') return new Uint8Array(Buffer.from(HELLO_TEXT, 'utf8'));
  return counterStream(path, BYTE_PATHS[path]);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface PathInfo {
  readonly size: number;
  readonly sha256: string;
}

/** Size and SHA-256 of every path, for the network description. */
export function describeWebPaths(): Record<WebPath, PathInfo> {
  const out = {} as Record<WebPath, PathInfo>;
  for (const p of WEB_PATHS) {
    const body = bodyFor(p);
    out[p] = { size: body.length, sha256: sha256Hex(body) };
  }
  return out;
}
