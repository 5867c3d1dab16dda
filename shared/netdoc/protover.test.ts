import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../util/index.ts';
import { MAX_PROTOCOL_VERSION, ProtocolList } from './protover.ts';

const name = fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/);
const version = fc.integer({ min: 0, max: MAX_PROTOCOL_VERSION });
const range = fc.tuple(version, version).map(([a, b]) => (a <= b ? ([a, b] as const) : ([b, a] as const)));
const list = fc
  .dictionary(name, fc.array(fc.oneof(version, range), { minLength: 0, maxLength: 4 }), { maxKeys: 6 })
  .map((spec) => ProtocolList.of(spec));

describe('ProtocolList', () => {
  it('parses a list as the consensus writes it and encodes it back', () => {
    const text = 'Cons=2 Desc=2 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4 HSRend=2 Link=4-5 Microdesc=2 Relay=2-4';
    const l = ProtocolList.parse(text);
    expect(l.toString()).toBe(text);
    expect(l.supports('Relay', 3)).toBe(true);
    expect(l.supports('Relay', 5)).toBe(false);
    expect(l.supports('Relay', 1)).toBe(false);
    expect(l.supports('Padding', 2)).toBe(false);
    expect(l.ranges('FlowCtrl')).toEqual([[1, 2]]);
    expect(l.names()).toEqual(['Cons', 'Desc', 'DirCache', 'FlowCtrl', 'HSDir', 'HSIntro', 'HSRend', 'Link', 'Microdesc', 'Relay']);
  });

  it('writes the canonical form: names sorted, ranges merged, empty entries dropped', () => {
    expect(ProtocolList.parse('Relay=4,2-3,1 Link=5,3-4 Foo=').toString()).toBe('Link=3-5 Relay=1-4');
    expect(ProtocolList.parse('LinkAuth=1,3 Link=1-5').toString()).toBe('Link=1-5 LinkAuth=1,3');
    expect(ProtocolList.parse('X=0,63').toString()).toBe('X=0,63');
    expect(ProtocolList.parse('').isEmpty).toBe(true);
    expect(ProtocolList.parse('Foo=').equals(ProtocolList.EMPTY)).toBe(true);
  });

  it('keeps protocol names it does not know, and compares them like any other', () => {
    const required = ProtocolList.parse('Datagram=1 Relay=2');
    const ours = ProtocolList.parse('Relay=2-4');
    expect(required.missingFrom(ours).toString()).toBe('Datagram=1');
    expect(ours.supportsAll(required)).toBe(false);
  });

  it('names exactly what is missing', () => {
    const required = ProtocolList.parse('Cons=2 Desc=2 FlowCtrl=1-2 HSDir=2 Link=4-5 Relay=2-4');
    const ours = ProtocolList.parse('Cons=1-2 Desc=1-2 FlowCtrl=1 Link=4-5 Relay=2');
    expect(required.missingFrom(ours).toString()).toBe('FlowCtrl=2 HSDir=2 Relay=3-4');
    expect(ours.supportsAll(required)).toBe(false);
    expect(ours.supportsAll(ProtocolList.parse('Link=4 Relay=2'))).toBe(true);
    expect(ours.supportsAll(ProtocolList.EMPTY)).toBe(true);
  });

  it('refuses what tor refuses, with a ProtocolError naming the entry', () => {
    for (const bad of ['Link', '=4', 'Link=4-', 'Link=5-4', 'Link=64', 'Link=a', 'Link=4,,5', 'Li_nk=4', 'Link=4 Link=5', 'Link=-1', 'Link=100', `${'A'.repeat(101)}=1`]) {
      expect(() => ProtocolList.parse(bad), bad).toThrow(ProtocolError);
    }
    expect(() => ProtocolList.parse('Link=4 Link=5')).toThrow(/listed twice/);
    expect(() => ProtocolList.parse('Relay=2 Link=5-4')).toThrow(/bad version range "5-4" for protocol "Link"/);
    expect(() => ProtocolList.of({ Link: [64] })).toThrow(ProtocolError);
    expect(() => ProtocolList.of({ 'a b': [1] })).toThrow(ProtocolError);
  });

  it('property: parse(toString(x)) equals x', () => {
    fc.assert(fc.property(list, (l) => ProtocolList.parse(l.toString()).equals(l)));
  });

  it('property: random text parses or throws ProtocolError, never anything else', () => {
    const alphabet = fc.constantFrom(...'Link=Relay-0123456789,= \tx_'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''))), (text) => {
        try {
          const l = ProtocolList.parse(text);
          expect(ProtocolList.parse(l.toString()).equals(l)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });

  it('property: set operations agree with supports() version by version', () => {
    fc.assert(
      fc.property(list, list, name, version, (a, b, n, v) => {
        const names = [...a.names(), ...b.names(), n];
        for (const p of names) {
          expect(a.union(b).supports(p, v)).toBe(a.supports(p, v) || b.supports(p, v));
          expect(a.intersection(b).supports(p, v)).toBe(a.supports(p, v) && b.supports(p, v));
          expect(a.missingFrom(b).supports(p, v)).toBe(a.supports(p, v) && !b.supports(p, v));
        }
        expect(b.supportsAll(a)).toBe(a.missingFrom(b).isEmpty);
        expect(a.union(b).supportsAll(a)).toBe(true);
      }),
    );
  });
});
