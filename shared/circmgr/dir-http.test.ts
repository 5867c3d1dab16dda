import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { ProtocolError, TelescopeError } from '../util/index.ts';
import type { TorStream } from '../stream/index.ts';
import { DirectoryHttpError, dirGet, dirGetResponse, parseHttpResponse } from './dir-http.ts';
import { rejection } from '../testing/thrown.ts';

const CONTEXT = 'test response';

async function compress(data: Uint8Array, format: 'deflate' | 'gzip'): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function response(head: string, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concatBytes(utf8(head), body);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('parseHttpResponse', () => {
  it('reads the status line, headers and an identity body', async () => {
    const raw = response('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Your-Address-Is:  1.2.3.4 \r\n\r\n', utf8('network-status-version 3\n'));
    const res = await parseHttpResponse(raw, CONTEXT);
    expect(res.status).toBe(200);
    expect(res.reason).toBe('OK');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('x-your-address-is')).toBe('1.2.3.4');
    expect(text(res.body)).toBe('network-status-version 3\n');
  });

  it('accepts HTTP/1.1, a missing reason, an empty body, and a body containing CRLFCRLF', async () => {
    const a = await parseHttpResponse(response('HTTP/1.1 404\r\n\r\n'), CONTEXT);
    expect([a.status, a.reason, a.body.length]).toEqual([404, '', 0]);
    const b = await parseHttpResponse(response('HTTP/1.0 503 Directory busy, try again later\r\n\r\n', utf8('x\r\n\r\ny')), CONTEXT);
    expect([b.status, b.reason, text(b.body)]).toEqual([503, 'Directory busy, try again later', 'x\r\n\r\ny']);
    const c = await parseHttpResponse(response('HTTP/1.0 200 OK\r\nContent-Encoding: identity\r\n\r\n', utf8('plain')), CONTEXT);
    expect(text(c.body)).toBe('plain');
  });

  it('ignores header lines without a colon and joins repeated headers into one list', async () => {
    const res = await parseHttpResponse(response('HTTP/1.0 200 OK\r\nnonsense\r\n: empty name\r\nA: 1\r\na: 2\r\n\r\n'), CONTEXT);
    expect(res.headers.get('a')).toBe('1, 2');
    expect(res.headers.size).toBe(1);
  });

  it('inflates a deflate body (zlib format, as tor sends)', async () => {
    const body = utf8('onion-key\nntor-onion-key AAAA\n'.repeat(200));
    const res = await parseHttpResponse(response('HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n', await compress(body, 'deflate')), CONTEXT);
    expect(res.body).toEqual(body);
  });

  it('gunzips a gzip or x-gzip body, whatever the case of the header', async () => {
    const body = utf8('dir-key-certificate-version 3\n'.repeat(50));
    const gz = await compress(body, 'gzip');
    for (const enc of ['gzip', 'x-gzip', 'GZIP']) {
      const res = await parseHttpResponse(response(`HTTP/1.0 200 OK\r\ncontent-encoding: ${enc}\r\n\r\n`, gz), CONTEXT);
      expect(res.body).toEqual(body);
    }
  });

  it('refuses malformed responses with a ProtocolError', async () => {
    const cases: [Uint8Array, RegExp][] = [
      [utf8('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n'), /without an end of headers/],
      [new Uint8Array(0), /without an end of headers/],
      [utf8('HTTP/1.0 200 OK\n\n'), /without an end of headers/],
      [response('HTTP/2 200 OK\r\n\r\n'), /malformed HTTP status line/],
      [response('HTTP/1.0 20 OK\r\n\r\n'), /malformed HTTP status line/],
      [response('HTTP/1.0 2000 OK\r\n\r\n'), /malformed HTTP status line/],
      [response('SSH-2.0-OpenSSH\r\n\r\n'), /malformed HTTP status line/],
      [response('\r\n\r\n'), /malformed HTTP status line/],
      [response('HTTP/1.0 200 OK\r\nContent-Encoding: br\r\n\r\n', utf8('x')), /unsupported Content-Encoding br/],
      [response('HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n', utf8('not deflate at all')), /bad deflate body/],
      [response('HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n', utf8('not gzip')), /bad gzip body/],
    ];
    for (const [raw, message] of cases) {
      const e = await rejection(parseHttpResponse(raw, CONTEXT));
      expect(e, text(raw)).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).context).toBe(CONTEXT);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('refuses a truncated compressed body', async () => {
    const full = await compress(utf8('x'.repeat(5000) + 'y'.repeat(5000)), 'deflate');
    const e = await rejection(parseHttpResponse(response('HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n', full.subarray(0, full.length - 6)), CONTEXT));
    expect(e).toBeInstanceOf(ProtocolError);
  });

  it('random bytes give a ProtocolError or a response, never another exception (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 100 })).map(([h, b]) => response(`${h}\r\n\r\n`, b)),
          fc.tuple(fc.constantFrom('deflate', 'gzip', 'x-gzip', 'identity', 'br', ''), fc.uint8Array({ maxLength: 100 })).map(([enc, b]) =>
            response(`HTTP/1.0 200 OK\r\nContent-Encoding: ${enc}\r\n\r\n`, b),
          ),
        ),
        async (raw) => {
          try {
            const res = await parseHttpResponse(raw, CONTEXT);
            expect(res.status).toBeGreaterThanOrEqual(0);
            expect(res.status).toBeLessThan(1000);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips any body through deflate and gzip (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom('deflate' as const, 'gzip' as const), async (body, format) => {
        const res = await parseHttpResponse(response(`HTTP/1.0 200 OK\r\nContent-Encoding: ${format}\r\n\r\n`, await compress(body, format)), CONTEXT);
        expect(res.body).toEqual(body);
      }),
      { numRuns: 50 },
    );
  });
});

/** Just enough of a TorStream for dirGet: records what was written and returns a canned answer. */
function fakeStream(answer: Uint8Array): { stream: TorStream; written: Uint8Array[] } {
  const written: Uint8Array[] = [];
  const stream = {
    async write(data: Uint8Array) {
      written.push(data.slice());
    },
    async readAll() {
      return answer;
    },
  };
  return { stream: stream as unknown as TorStream, written };
}

describe('dirGet', () => {
  it('sends an HTTP/1.0 GET accepting deflate and gzip and returns the body of a 200', async () => {
    const body = utf8('consensus text');
    const { stream, written } = fakeStream(response('HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n', await compress(body, 'deflate')));
    expect(await dirGet(stream, '/tor/status-vote/current/consensus-microdesc')).toEqual(body);
    expect(text(concatBytes(...written))).toBe('GET /tor/status-vote/current/consensus-microdesc HTTP/1.0\r\nAccept-Encoding: deflate, gzip, identity\r\n\r\n');
  });

  it('dirGetResponse tells how the answer came: its encoding and the bytes on the wire', async () => {
    const body = utf8('microdescriptors '.repeat(100));
    const raw = response('HTTP/1.0 200 OK\r\nContent-Encoding: deflate\r\n\r\n', await compress(body, 'deflate'));
    const res = await dirGetResponse(fakeStream(raw).stream, '/tor/micro/d/abc');
    expect(res.body).toEqual(body);
    expect(res.headers.get('content-encoding')).toBe('deflate');
    expect(res.wireBytes).toBe(raw.length);
    expect(res.wireBytes).toBeLessThan(body.length);
  });

  it('turns any other status into a DirectoryHttpError', async () => {
    const { stream } = fakeStream(response('HTTP/1.0 404 Not found\r\n\r\n'));
    const e = await rejection(dirGet(stream, '/tor/micro/d/abc'));
    expect(e).toBeInstanceOf(DirectoryHttpError);
    expect(e).toBeInstanceOf(TelescopeError);
    expect((e as DirectoryHttpError).status).toBe(404);
    expect((e as DirectoryHttpError).path).toBe('/tor/micro/d/abc');
    expect((e as Error).message).toMatch(/HTTP 404 Not found/);
  });

  it('passes on a ProtocolError for a garbled answer', async () => {
    const { stream } = fakeStream(utf8('garbage'));
    expect(await rejection(dirGet(stream, '/tor/keys/all'))).toBeInstanceOf(ProtocolError);
  });
});
