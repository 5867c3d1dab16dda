import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TelescopeError } from '../util/index.ts';
import { ConfigError } from './torrc.ts';
import { parseOnionServiceConfig } from './onion-service-config.ts';

const SCHEMA = [
  { name: 'DataDirectory', kind: 'path' },
  { name: 'DirAuthority', kind: 'dirauthority' },
] as const;

describe('onion-service config', () => {
  it('groups HiddenService* lines under the HiddenServiceDir before them', () => {
    const { config, services } = parseOnionServiceConfig([
      'DataDirectory /tmp/d',
      'HiddenServiceDir /tmp/a',
      'HiddenServicePort 80 127.0.0.1:8080',
      'HiddenServicePort 22',
      'HiddenServiceDir /tmp/b',
      'HiddenServicePort 443 [::1]:8443',
      'HiddenServiceNumIntroductionPoints 5',
    ].join('\n'), SCHEMA);
    expect(config.DataDirectory).toBe('/tmp/d');
    expect(services.map((s) => s.dir)).toEqual(['/tmp/a', '/tmp/b']);
    expect(services[0]!.ports).toEqual([
      { virtualPort: 80, target: { host: '127.0.0.1', port: 8080 } },
      { virtualPort: 22, target: { host: '127.0.0.1', port: 22 } },
    ]);
    expect(services[0]!.numIntroductionPoints).toBe(3);
    expect(services[1]!.ports[0]!.target).toEqual({ host: '::1', port: 8443 });
    expect(services[1]!.numIntroductionPoints).toBe(5);
  });

  it('says which line is wrong and why', () => {
    const err = (text: string) => {
      try {
        parseOnionServiceConfig(text, SCHEMA);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(err('HiddenServicePort 80')).toMatch(/line 1: .*after a HiddenServiceDir/);
    expect(err('HiddenServiceDir /a\n\nHiddenServicePort 99999')).toMatch(/line 3: .*not a port number/);
    expect(err('HiddenServiceDir /a\nHiddenServicePort 80 unix:/sock')).toMatch(/line 2: .*unix/);
    expect(err('HiddenServiceDir /a')).toMatch(/line 1: .*no HiddenServicePort/);
    expect(err('HiddenServiceDir /a\nHiddenServicePort 80\nHiddenServiceVersion 2')).toMatch(/line 3: .*only version 3/);
    expect(err('HiddenServiceDir /a\nHiddenServicePort 80\nNoSuchOption 1')).toMatch(/line 3/);
  });

  it('random text gives a ConfigError or a result, never another exception', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('HiddenServiceDir /x', 'HiddenServicePort 80', 'HiddenServicePort a:b', 'DataDirectory /d', '#c', 'HiddenServiceNumIntroductionPoints 0', '\\', '"'), { maxLength: 8 }), (lines) => {
      try {
        parseOnionServiceConfig(lines.join('\n'), SCHEMA);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }));
  });
});
