import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { thrown } from '../testing/thrown.ts';
import { parseFallbackDir } from './fallback-dir.ts';
import { ConfigError } from './torrc.ts';

const FP = 'EF8DF732D0F307F63011B81CA44257E30BEF2B5C';

const reason = (value: string): string => {
  const e = thrown(() => parseFallbackDir(value));
  expect(e).toBeInstanceOf(ConfigError);
  return (e as ConfigError).reason;
};

describe('FallbackDir lines', () => {
  it('reads tor\'s list form (no DirPort) and the manual\'s form, options in any order', () => {
    expect(parseFallbackDir(`216.9.227.166 orport=445 id=${FP.toLowerCase()}`)).toEqual({
      nickname: undefined, address: '216.9.227.166', orPort: 445, dirPort: undefined, fingerprint: FP, ipv6: undefined, weight: undefined,
    });
    expect(parseFallbackDir(`FallbackDir 192.0.2.7:9030 id=${FP} weight=2.5 ipv6=[2001:DB8::0:1]:9001 orport=9001`)).toEqual({
      nickname: undefined, address: '192.0.2.7', orPort: 9001, dirPort: 9030, fingerprint: FP, ipv6: { address: '2001:db8::1', port: 9001 }, weight: 2.5,
    });
    expect(parseFallbackDir(`[2001:db8::2]:80 orport=443 id=${FP}`)).toMatchObject({ address: '2001:db8::2', dirPort: 80 });
  });

  it('names what is wrong', () => {
    expect(reason('')).toBe('empty FallbackDir line');
    expect(reason(`orport=1 id=${FP}`)).toBe('missing ADDRESS[:DIRPORT]');
    expect(reason('192.0.2.7 orport=1')).toBe('missing id=FINGERPRINT');
    expect(reason(`192.0.2.7 id=${FP}`)).toBe('missing orport=N');
    expect(reason(`192.0.2.7 192.0.2.8 orport=1 id=${FP}`)).toBe("a second address '192.0.2.8' (one ADDRESS[:DIRPORT] per line)");
    expect(reason(`192.0.2.7 orport=0 id=${FP}`)).toBe("orport '0' is not a port (1-65535)");
    expect(reason(`192.0.2.7 orport=1 orport=2 id=${FP}`)).toBe('orport= given twice');
    expect(reason('192.0.2.7 orport=1 id=ABCD')).toBe("id 'ABCD' is not 40 hex digits");
    expect(reason(`192.0.2.7 orport=1 id=${FP} ipv6=192.0.2.8:1`)).toBe("ipv6 '192.0.2.8:1' is not [IPv6 address]:port");
    expect(reason(`192.0.2.7 orport=1 id=${FP} ipv6=[2001:db8::1]`)).toBe("ipv6 '[2001:db8::1]' is not [IPv6 address]:port");
    expect(reason(`192.0.2.7 orport=1 id=${FP} weight=x`)).toBe("weight 'x' is not a number");
    expect(reason(`192.0.2.7 orport=1 id=${FP} ed25519=AAAA`)).toBe("unknown option 'ed25519=AAAA'");
    expect(reason(`2001:db8::1 orport=1 id=${FP}`)).toBe("address '2001:db8::1' is not an IP address (IPv6 in [brackets]) with an optional port");
    expect(reason(`host.example orport=1 id=${FP}`)).toBe("address 'host.example' is not an IP address (IPv6 in [brackets]) with an optional port");
  });

  it('random values never throw anything but ConfigError', () => {
    const token = fc.constantFrom('FallbackDir', '192.0.2.7', '192.0.2.7:80', '192.0.2.7:', '[::1]:1', '[::1]', '[', ']:', 'orport=1', 'orport=',
      'orport=99999', `id=${FP}`, 'id=', 'ipv6=[::1]:1', 'ipv6=[', 'ipv6=', 'weight=1', 'weight=', '=', 'x=y', FP);
    const value = fc.oneof(fc.string({ maxLength: 60 }), fc.array(token, { maxLength: 8 }).map((t) => t.join(' ')));
    fc.assert(
      fc.property(value, (v) => {
        try {
          parseFallbackDir(v);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
