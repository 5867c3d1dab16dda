import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../shared/bytes/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../shared/util/index.ts';
import type { TorClient } from '../shared/client/index.ts';
import { fetchTimed } from './bench-fetch.ts';

/** A client whose one stream delivers `chunks` and then ends; it records what was written. */
function fakeClient(chunks: readonly Uint8Array[]) {
  const written: Uint8Array[] = [];
  let closed = false;
  let connects = 0;
  const queue = [...chunks];
  const stream = {
    write: async (b: Uint8Array) => { written.push(b.slice()); },
    read: async () => queue.shift() ?? null,
    close: () => { closed = true; },
  };
  const client = {
    connect: async () => {
      connects++;
      return { stream, circuit: { path: [{ nickname: 'guard', fingerprint: 'AAAAAAAAAAAA' }, { nickname: 'exit', fingerprint: 'BBBBBBBBBBBB' }] } };
    },
  } as unknown as Pick<TorClient, 'connect'>;
  return { client, written, closed: () => closed, connects: () => connects };
}

function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

const body = new Uint8Array(3000).map((_, i) => (i * 31) & 0xff);
const head = utf8('HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n');
const response = new Uint8Array([...head, ...body]);

describe('fetchTimed', () => {
  it('sends an HTTP/1.0 GET and returns the body digest, timings and circuit', async () => {
    const f = fakeClient(split(response, [10, head.length, head.length + 100]));
    const r = await fetchTimed(f.client, 'http://127.0.0.1:8080/bytes/1m?x=1', 'k');
    expect(new TextDecoder().decode(f.written[0])).toBe('GET /bytes/1m?x=1 HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n');
    expect(r).toMatchObject({ status: 200, length: body.length, sha256: toHex(sha256(body)), circuit: ['guard~AAAAAAAA', 'exit~BBBBBBBB'] });
    expect(r.connectMs).toBeLessThanOrEqual(r.ttfbMs);
    expect(r.ttfbMs).toBeLessThanOrEqual(r.totalMs);
    expect(f.closed()).toBe(true);
  });

  it('fails with ProtocolError when the stream ends inside the response head, and closes the stream', async () => {
    const f = fakeClient([utf8('HTTP/1.1 200 OK\r\nContent-')]);
    await expect(fetchTimed(f.client, 'http://127.0.0.1/', 'k')).rejects.toBeInstanceOf(ProtocolError);
    expect(f.closed()).toBe(true);
  });

  it('refuses https: (no TLS here) before connecting', async () => {
    const f = fakeClient([]);
    await expect(fetchTimed(f.client, 'https://127.0.0.1/', 'k')).rejects.toBeInstanceOf(UsageError);
    expect(f.connects()).toBe(0);
  });

  it('gives the same body however the stream chunks the response', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.nat(), { maxLength: 8 }), async (cuts) => {
      const r = await fetchTimed(fakeClient(split(response, cuts)).client, 'http://127.0.0.1/', 'k');
      expect(r.length).toBe(body.length);
      expect(r.sha256).toBe(toHex(sha256(body)));
    }));
  });

  it('random responses give a result or a TelescopeError, nothing else', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }), async (chunks) => {
      try {
        await fetchTimed(fakeClient(chunks).client, 'http://127.0.0.1/', 'k');
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
  });
});
