import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TelescopeError } from '../util/index.ts';
import { parseResponseHead } from './http1.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('HTTP/1 response head', () => {
  it('joins repeated headers, keeping Set-Cookie values one per line', () => {
    const h = parseResponseHead(enc('HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT\r\nVary: A\r\nset-cookie: b=2\r\nVary: B\r\n\r\nbody'), 't');
    expect(h.status).toBe(200);
    expect(h.headers.get('set-cookie')).toBe('a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT\nb=2');
    expect(h.headers.get('vary')).toBe('A, B');
  });

  it('refuses a bad status line or a head without an end', () => {
    expect(() => parseResponseHead(enc('HTTP/1.1 2000 OK\r\n\r\n'), 't')).toThrow(/malformed HTTP status line/);
    expect(() => parseResponseHead(enc('HTTP/1.1 200 OK\r\n'), 't')).toThrow(/without an end of headers/);
  });

  it('random bytes give a typed error or a head, never another exception', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        parseResponseHead(b, 'fuzz');
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
  });
});
