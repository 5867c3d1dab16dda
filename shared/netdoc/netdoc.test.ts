import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { utf8 } from '../bytes/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { encodeNetdoc, tokenize, type NetdocItemInput } from './netdoc.ts';
import cert5696 from './fixtures/dirmgr/cert-5696.txt?raw';
import { thrown } from '../testing/thrown.ts';

/** The error a call throws (fails the test if it returns). */

describe('netdoc tokenizer', () => {
  it('splits keyword lines and arguments, with exact offsets', () => {
    const text = 'a 1 2\nb\tx   y \n\nc\n';
    const items = tokenize(text);
    expect(items.map((i) => [i.keyword, i.args, i.line])).toEqual([
      ['a', ['1', '2'], 1],
      ['b', ['x', 'y'], 2],
      ['c', [], 4],
    ]);
    expect(items[1]!.rawArgs).toBe('x   y');
    for (const it of items) {
      expect(text[it.lineEnd]).toBe('\n');
      expect(text.slice(it.start, it.end).startsWith(it.keyword)).toBe(true);
    }
    expect(items[2]!.start).toBe(text.length - 2);
    expect(items[2]!.end).toBe(text.length);
  });

  it('reads objects and records the item range through the END line', () => {
    const items = tokenize(cert5696);
    expect(items.map((i) => i.keyword)).toEqual([
      'dir-key-certificate-version',
      'dir-address',
      'fingerprint',
      'dir-key-published',
      'dir-key-expires',
      'dir-identity-key',
      'dir-signing-key',
      'dir-key-crosscert',
      'dir-key-certification',
    ]);
    const id = items[5]!;
    expect(id.object?.label).toBe('RSA PUBLIC KEY');
    expect(id.object?.data.length).toBeGreaterThan(300); // a 3072-bit key's DER
    expect(items[7]!.object?.label).toBe('ID SIGNATURE');
    const cert = items[8]!;
    expect(cert.object?.label).toBe('SIGNATURE');
    expect(cert.object?.data.length).toBe(384);
    expect(cert.end).toBe(cert5696.length);
    // The keyword line of the signature item ends right before the BEGIN line.
    expect(cert5696.slice(cert.lineEnd + 1).startsWith('-----BEGIN SIGNATURE-----\n')).toBe(true);
  });

  it('accepts bytes as well as strings', () => {
    const fromBytes = tokenize(utf8(cert5696));
    const fromText = tokenize(cert5696);
    expect(fromBytes).toEqual(fromText);
  });

  it('accepts an empty object (tor writes one for an absent TAP key)', () => {
    const [item] = tokenize('onion-key\n-----BEGIN RSA PUBLIC KEY-----\n-----END RSA PUBLIC KEY-----\nx\n');
    expect(item!.object?.data.length).toBe(0);
  });

  const bad: [string, string, RegExp][] = [
    ['missing final newline', 'a b\nc', /line 2: document does not end with a newline/],
    ['carriage return', 'a\r\nb\n', /line 1: character U\+000d/],
    ['non-ASCII', 'a\nb \u00e9\n', /line 2: character U\+00e9/],
    ['leading space', 'a\n b\n', /line 2: keyword line starts with whitespace/],
    ['keyword starting with dash', '-a\n', /line 1: .*not a keyword line/],
    ['bad keyword char', 'a_b c\n', /line 1: invalid keyword "a_b"/],
    ['object without item', '-----BEGIN X-----\nAAAA\n-----END X-----\n', /line 1: object without a keyword line/],
    ['two objects', 'k\n-----BEGIN X-----\n-----END X-----\n-----BEGIN X-----\n-----END X-----\n', /line 4: object without a keyword line/],
    ['mismatched END', 'k\n-----BEGIN X-----\nAAAA\n-----END Y-----\n', /line 4: expected "-----END X-----"/],
    ['unterminated object', 'k\n-----BEGIN X-----\nAAAA\n', /line 2: object "X" has no END line/],
    ['bad base64 line', 'k\n-----BEGIN X-----\nAA*A\n-----END X-----\n', /line 3: invalid base64/],
    ['padding in the middle', 'k\n-----BEGIN X-----\nAA==\nAAAA\n-----END X-----\n', /line 2: object "X" is not valid base64/],
    ['bad label', 'k\n-----BEGIN a  b-----\n-----END a  b-----\n', /line 2: invalid object label/],
    ['annotation not allowed', '@last-listed 2020\nk\n', /line 1: annotation "@last-listed" not allowed/],
  ];
  for (const [name, text, message] of bad) {
    it(`refuses ${name} with a ProtocolError naming the line`, () => {
      const e = thrown(() => tokenize(text, { context: 'test doc' }));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).context).toBe('test doc');
      expect((e as Error).message).toMatch(message);
    });
  }

  it('refuses non-ASCII bytes', () => {
    const e = thrown(() => tokenize(Uint8Array.of(0x61, 0x0a, 0x62, 0x20, 0xc3, 0xa9, 0x0a)));
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/line 2: byte 0xc3/);
  });

  it('marks annotations when they are allowed', () => {
    const items = tokenize('@last-listed 2020-01-27 18:52:09\nonion-key\n', { allowAnnotations: true });
    expect(items.map((i) => [i.keyword, i.annotation])).toEqual([
      ['@last-listed', true],
      ['onion-key', false],
    ]);
  });

  it('refuses to encode what would not tokenize back', () => {
    expect(() => encodeNetdoc([{ keyword: '-x' }])).toThrow(UsageError);
    expect(() => encodeNetdoc([{ keyword: 'k', args: ['a b'] }])).toThrow(UsageError);
    expect(() => encodeNetdoc([{ keyword: 'k', object: { label: 'x--', data: new Uint8Array() } }])).not.toThrow();
    expect(() => encodeNetdoc([{ keyword: 'k', object: { label: ' x', data: new Uint8Array() } }])).toThrow(UsageError);
  });
});

const keyword = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,15}$/);
const argument = fc.stringMatching(/^[\x21-\x7e]{1,12}$/);
const label = fc.stringMatching(/^[A-Z0-9][A-Z0-9-]{0,8}( [A-Z0-9][A-Z0-9-]{0,8}){0,2}$/);
const itemInput: fc.Arbitrary<NetdocItemInput> = fc.record({
  keyword,
  args: fc.array(argument, { maxLength: 6 }),
  object: fc.option(fc.record({ label, data: fc.uint8Array({ maxLength: 200 }) }), { nil: undefined }),
});

describe('netdoc properties', () => {
  it('tokenize(encode(items)) gives the items back, each spanning its own encoding', () => {
    fc.assert(
      fc.property(fc.array(itemInput, { maxLength: 12 }), (items) => {
        const text = encodeNetdoc(items);
        const parsed = tokenize(text);
        expect(parsed.map((p) => ({ keyword: p.keyword, args: [...p.args], object: p.object }))).toEqual(
          items.map((i) => ({ keyword: i.keyword, args: [...(i.args ?? [])], object: i.object })),
        );
        parsed.forEach((p, n) => {
          expect(text.slice(p.start, p.end)).toBe(encodeNetdoc([items[n]!]));
        });
      }),
    );
  });

  it('random strings either tokenize or give a TelescopeError', () => {
    const pieces = fc.constantFrom('a', 'k 1', ' ', '\t', '\n', '-----BEGIN X-----', '-----END X-----', '-----BEGIN Y-----', 'AAAA', '==', '@x', '\r', '\u00e9', '-');
    const doc = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.array(pieces, { maxLength: 30 }).map((p) => p.join('')));
    fc.assert(
      fc.property(doc, (text) => {
        try {
          tokenize(text, { allowAnnotations: text.length % 2 === 0 });
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });

  it('random bytes either tokenize or give a TelescopeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          tokenize(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
        }
      }),
    );
  });
});
