import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../../shared/config/index.ts';
import { PUBLIC_NETWORK } from '../../shared/directory/index.ts';
import { TelescopeError } from '../../shared/util/index.ts';
import { DEFAULT_EXIT_POLICY, defaultExitPolicy, parseExitPolicy } from '../../shared/policy/index.ts';
import { BRIDGE_REQUIRED_MIN_BANDWIDTH, MAX_BANDWIDTH, RELAY_REQUIRED_MIN_BANDWIDTH, parseRelayConfig } from './config.ts';

const V3 = '4C0AD9A0BB4A24C1D9F7FA2A8CFF8A1EB1A57B57';
const FP = '4352E58420E68F5E40BF7C74FADDCCD9D1349413';
const AUTH = `DirAuthority auth0 orport=5000 v3ident=${V3} 127.0.0.1:7000 ${FP}`;

/** A minimal valid relay configuration plus the given lines. */
const conf = (...lines: string[]): string => ['ORPort 9001', AUTH, ...lines].join('\n');

function configError(text: string): ConfigError {
  try {
    parseRelayConfig(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('relay config: defaults', () => {
  it('joins the built-in public network without DirAuthority lines (or the network it is given instead)', () => {
    const c = parseRelayConfig('ORPort 9001\nContactInfo x');
    expect(c.network).toEqual(PUBLIC_NETWORK);
    expect(c.warnings).toEqual([]);
    const standIn = { authorities: PUBLIC_NETWORK.authorities.slice(0, 1), fallbacks: [], bridgeAuthorities: [] };
    expect(parseRelayConfig('ORPort 9001\nBridgeRelay 1', standIn).network).toEqual(standIn);
    expect(parseRelayConfig('ORPort 9001\nBridgeRelay 1', standIn).warnings).toContain('BridgeRelay 1 publishes to a bridge authority, but no DirAuthority line has the bridge flag');
    expect(parseRelayConfig('ORPort 9001\nBridgeRelay 1').warnings).toEqual([]);
  });

  it('gives tor\'s defaults for a minimal file', () => {
    const c = parseRelayConfig(conf());
    expect(c.nickname).toBe('Unnamed');
    expect(c.orPorts).toEqual([{ address: undefined, port: 9001, listen: true, advertise: true, family: undefined }]);
    expect(c.webSocketPorts).toEqual([]);
    expect(c.dirAuthorities).toHaveLength(1);
    expect(c.dirAuthorities[0]!.v3ident).toBe(V3);
    // A private network: its own authority, no fallbacks.
    expect(c.network.authorities.map((a) => a.v3ident)).toEqual([V3]);
    expect(c.network.fallbacks).toEqual([]);
    expect(c.exitRelay).toBe('auto');
    expect(c.isExit).toBe(false);
    expect(c.exitPolicy.toString()).toBe('reject *4:*,reject *6:*');
    expect(c.exitPolicyRejectPrivate).toBe(true);
    expect(c.bridgeRelay).toBe(false);
    expect(c.publishServerDescriptor).toBe(true);
    expect(c.bandwidthRate).toBe(2 ** 30);
    expect(c.bandwidthBurst).toBe(2 ** 30);
    expect(c.maxCircuits).toBe(8192);
    expect(c.createRateLimit).toBe(100);
    expect(c.assumeReachable).toBe(false);
    expect(c.testingTorNetwork).toBe(false);
    expect(c.outboundBindAddress).toEqual({ ipv4: undefined, ipv6: undefined });
    expect(c.dataDirectory).toBeUndefined();
    expect(c.contactInfo).toBeUndefined();
    expect(c.log).toEqual([]);
    expect(c.warnings.some((w) => w.includes('ContactInfo'))).toBe(true);
  });

  it('reads a full testing-network relay', () => {
    const c = parseRelayConfig(
      [
        'Nickname telescope1',
        'Address 127.0.0.1',
        'ORPort 127.0.0.1:5100',
        'WebSocketPort 127.0.0.1:8443 cert=/etc/le/fullchain.pem key=/etc/le/privkey.pem path=/tor',
        'WebSocketPort 8080',
        'DataDirectory /var/lib/telescope',
        AUTH,
        `DirAuthority auth1 orport=5001 v3ident=${V3.replace('4C', '5C')} 127.0.0.1:7001 ${FP.replace('43', '53')}`,
        'ExitRelay 1',
        'ExitPolicy accept *:80,accept *:443',
        'ExitPolicy reject *:*',
        'ExitPolicyRejectPrivate 0',
        'PublishServerDescriptor 1',
        'BandwidthRate 1 MB',
        'BandwidthBurst 2 MB',
        'ContactInfo ops@example.org',
        'Log notice stdout',
        'Log info file /tmp/relay.log',
        'OutboundBindAddress 127.0.0.1',
        'OutboundBindAddress [::1]',
        'AssumeReachable 1',
        'TestingTorNetwork 1',
        'MaxCircuits 100',
        'CreateRateLimit 0',
      ].join('\n'),
    );
    expect(c.nickname).toBe('telescope1');
    expect(c.addresses).toEqual(['127.0.0.1']);
    expect(c.orPorts).toEqual([{ address: '127.0.0.1', port: 5100, listen: true, advertise: true, family: undefined }]);
    expect(c.webSocketPorts).toEqual([
      { address: '127.0.0.1', port: 8443, tls: { cert: '/etc/le/fullchain.pem', key: '/etc/le/privkey.pem' }, path: '/tor' },
      { address: undefined, port: 8080, tls: undefined, path: '/' },
    ]);
    expect(c.dataDirectory).toBe('/var/lib/telescope');
    expect(c.dirAuthorities).toHaveLength(2);
    expect(c.exitRelay).toBe(true);
    expect(c.isExit).toBe(true);
    // No IPv6Exit: every IPv6 destination is refused first; private networks are not (RejectPrivate 0).
    expect(c.exitPolicy.toString()).toBe('reject *6:*,accept *4:80,accept *4:443,reject *4:*');
    expect(c.exitPolicy.allows('127.0.0.1', 80)).toBe(true);
    expect(c.exitPolicy.allows('8.8.8.8', 22)).toBe(false);
    expect(c.bandwidthRate).toBe(2 ** 20);
    expect(c.bandwidthBurst).toBe(2 ** 21);
    expect(c.contactInfo).toBe('ops@example.org');
    expect(c.log).toEqual(['notice stdout', 'info file /tmp/relay.log']);
    expect(c.outboundBindAddress).toEqual({ ipv4: '127.0.0.1', ipv6: '::1' });
    expect(c.assumeReachable).toBe(true);
    expect(c.testingTorNetwork).toBe(true);
    expect(c.maxCircuits).toBe(100);
    expect(c.createRateLimit).toBe(0);
    expect(c.warnings).toEqual([]);
  });

  it('reads keywords case-insensitively, as tor does', () => {
    const c = parseRelayConfig(['orport 9001', AUTH.replace('DirAuthority', 'dirauthority'), 'NICKNAME abc'].join('\n'));
    expect(c.nickname).toBe('abc');
  });
});

describe('relay config: exit policy', () => {
  it('ExitRelay 1 without ExitPolicy means tor\'s default policy, private networks rejected', () => {
    const c = parseRelayConfig(conf('ExitRelay 1'));
    expect(c.isExit).toBe(true);
    expect(c.exitPolicy.toString()).toBe(defaultExitPolicy().toString());
    expect(c.exitPolicy.allows('93.184.216.34', 443)).toBe(true);
    expect(c.exitPolicy.allows('93.184.216.34', 25)).toBe(false);
    expect(c.exitPolicy.allows('10.1.2.3', 443)).toBe(false);
    expect(c.exitPolicy.allows('127.0.0.1', 443)).toBe(false);
    expect(c.warnings.some((w) => w.includes('default exit policy'))).toBe(true);
  });

  it('ExitRelay auto: an exit only if ExitPolicy is set (and it says so)', () => {
    expect(parseRelayConfig(conf('ExitRelay auto')).isExit).toBe(false);
    const c = parseRelayConfig(conf('ExitPolicy accept *:443'));
    expect(c.isExit).toBe(true);
    expect(c.exitPolicy.allows('93.184.216.34', 443)).toBe(true);
    // tor appends its default policy after the ExitPolicy lines.
    expect(c.exitPolicy.allows('93.184.216.34', 80)).toBe(true);
    expect(c.exitPolicy.allows('93.184.216.34', 25)).toBe(false);
    expect(c.warnings.some((w) => w.includes('set ExitRelay 1'))).toBe(true);
    // A policy that accepts nothing is no exit.
    expect(parseRelayConfig(conf('ExitPolicy reject *:*')).isExit).toBe(false);
  });

  it('ExitRelay 0 is no exit whatever the ExitPolicy, with a warning', () => {
    const c = parseRelayConfig(conf('ExitRelay 0', 'ExitPolicy accept *:*'));
    expect(c.isExit).toBe(false);
    expect(c.exitPolicy.rejectsAll(4)).toBe(true);
    expect(c.exitPolicy.rejectsAll(6)).toBe(true);
    expect(c.warnings.some((w) => w.includes('ignored'))).toBe(true);
  });

  it('rejects the relay\'s own public addresses, and IPv6 unless IPv6Exit', () => {
    const c = parseRelayConfig(conf('ExitRelay 1', 'Address 203.0.113.5', 'OutboundBindAddress 198.51.100.7'));
    expect(c.exitPolicy.allows('203.0.113.5', 443)).toBe(false);
    expect(c.exitPolicy.allows('198.51.100.7', 443)).toBe(false);
    expect(c.exitPolicy.allows('203.0.113.6', 443)).toBe(true);
    expect(c.exitPolicy.allows('2001:db8::1', 443)).toBe(false);
    const v6 = parseRelayConfig(conf('ExitRelay 1', 'IPv6Exit 1'));
    expect(v6.ipv6Exit).toBe(true);
    expect(v6.exitPolicy.allows('2001:db8::1', 443)).toBe(true);
    expect(v6.exitPolicy.allows('fc00::1', 443)).toBe(false);
  });

  it('rejects the addresses of its WebSocket listeners too (ExitPolicyRejectPrivate)', () => {
    const c = parseRelayConfig(conf('ExitRelay 1', 'WebSocketPort 198.51.100.9:443', 'WebSocketPort [2001:db8::9]:443', 'IPv6Exit 1'));
    expect(c.exitPolicy.allows('198.51.100.9', 443)).toBe(false);
    expect(c.exitPolicy.allows('198.51.100.9', 80)).toBe(false);
    expect(c.exitPolicy.allows('2001:db8::9', 443)).toBe(false);
    expect(c.exitPolicy.allows('198.51.100.10', 443)).toBe(true);
    const open = parseRelayConfig(conf('ExitRelay 1', 'ExitPolicyRejectPrivate 0', 'WebSocketPort 198.51.100.9:443'));
    expect(open.exitPolicy.allows('198.51.100.9', 443)).toBe(true);
  });

  it('exit caps and the heartbeat: defaults, values, bounds', () => {
    const d = parseRelayConfig(conf());
    expect([d.maxExitSockets, d.maxConcurrentDnsLookups, d.heartbeatPeriod]).toEqual([4096, 64, 6 * 3600]);
    const c = parseRelayConfig(conf('MaxExitSockets 10', 'MaxConcurrentDnsLookups 2', 'HeartbeatPeriod 30 seconds'));
    expect([c.maxExitSockets, c.maxConcurrentDnsLookups, c.heartbeatPeriod]).toEqual([10, 2, 30]);
    expect(() => parseRelayConfig(conf('MaxExitSockets 0'))).toThrow(/MaxExitSockets: '0' is out of range/);
    expect(() => parseRelayConfig(conf('MaxConcurrentDnsLookups 0'))).toThrow(/out of range/);
  });

  it('ExitPolicyRejectPrivate 0 lets private destinations through (a private test network)', () => {
    const c = parseRelayConfig(conf('ExitRelay 1', 'ExitPolicyRejectPrivate 0'));
    expect(c.exitPolicy.allows('127.0.0.1', 80)).toBe(true);
  });

  it('a bridge gets no default policy appended', () => {
    const c = parseRelayConfig(conf('BridgeRelay 1', 'ExitPolicy accept *:443'));
    expect(c.exitPolicy.allows('93.184.216.34', 443)).toBe(true);
    expect(c.exitPolicy.allows('93.184.216.34', 80)).toBe(false);
  });

  it('ReducedExitPolicy', () => {
    const c = parseRelayConfig(conf('ExitRelay 1', 'ReducedExitPolicy 1'));
    expect(c.exitPolicy.allows('93.184.216.34', 443)).toBe(true);
    expect(c.exitPolicy.allows('93.184.216.34', 8081)).toBe(false);
  });

  it('a "/" before ExitPolicy drops the lines before it', () => {
    const c = parseRelayConfig(conf('ExitPolicy accept *:22', '/ExitPolicy', 'ExitPolicy accept *:443'));
    expect(c.exitPolicyLines).toEqual(['accept *:443']);
  });

  it('the default policy really is tor\'s', () => {
    const c = parseRelayConfig(conf('ExitRelay 1', 'ExitPolicyRejectPrivate 0'));
    expect(c.exitPolicy.toString()).toBe(
      parseExitPolicy(['reject *6:*', DEFAULT_EXIT_POLICY.replaceAll('*:', '*4:')]).toString(),
    );
  });
});

describe('relay config: errors name the line', () => {
  const cases: [string, string, RegExp][] = [
    ['no ORPort', [AUTH].join('\n'), /^ORPort is required/],
    ['ORPort 0 only', ['ORPort 0', AUTH].join('\n'), /^ORPort is required/],
    ['bad ORPort', ['Nickname x', 'ORPort 70000', AUTH].join('\n'), /^line 2: ORPort: port 70000 is out of range/],
    ['bad ORPort flag', ['ORPort 9001 Foo', AUTH].join('\n'), /^line 1: ORPort: unknown flag 'Foo'/],
    ['NoListen NoAdvertise', ['ORPort 9001 NoListen NoAdvertise', AUTH].join('\n'), /^line 1: ORPort: NoListen and NoAdvertise/],
    ['IPv4Only IPv6Only', ['ORPort 9001 IPv4Only IPv6Only', AUTH].join('\n'), /^line 1: ORPort: IPv4Only and IPv6Only/],
    ['IPv6Only on IPv4', ['ORPort 1.2.3.4:9001 IPv6Only', AUTH].join('\n'), /^line 1: ORPort: IPv6Only on an IPv4 address/],
    ['only NoListen', ['ORPort 9001 NoListen', AUTH].join('\n'), /NoListen, so nothing would listen/],
    ['only NoAdvertise', ['ORPort 9001 NoAdvertise', AUTH].join('\n'), /NoAdvertise, so none could be published/],
    ['flag twice', ['ORPort 9001 NoListen NoListen', AUTH].join('\n'), /^line 1: ORPort: flag 'NoListen' given twice/],
    ['bad nickname', conf('Nickname bad-name'), /^line 3: Nickname: 'bad-name' is not 1 to 19 letters/],
    ['long nickname', conf('Nickname abcdefghijklmnopqrst'), /^line 3: Nickname:/],
    ['bad address', conf('Address not_a_host!'), /^line 3: Address: 'not_a_host!' is neither/],
    ['two IPv4 addresses', conf('Address 1.2.3.4', 'Address 5.6.7.8'), /^line 4: Address: give at most one IPv4/],
    ['ExitRelay', conf('ExitRelay yes'), /^line 3: ExitRelay: 'yes' is not 0, 1 or auto/],
    ['PublishServerDescriptor', conf('PublishServerDescriptor hs'), /^line 3: PublishServerDescriptor: 'hs' is not/],
    ['PublishServerDescriptor 0,v3', conf('PublishServerDescriptor 0,v3'), /^line 3: PublishServerDescriptor: .*0 cannot be combined/],
    ['burst below rate', conf('BandwidthRate 2 MB', 'BandwidthBurst 1 MB'), /^line 4: BandwidthBurst: 1048576 is less than BandwidthRate \(2097152\)/],
    ['rate above default burst', conf('BandwidthRate 1.5 GB'), /^line 3: BandwidthRate: 1610612736 is more than BandwidthBurst \(1073741824, the default\); raise BandwidthBurst too/],
    ['rate too low', conf('BandwidthRate 10 KB'), /^line 3: BandwidthRate: 10240 bytes per second is too little; a relay needs at least 76800/],
    ['rate too high', conf('BandwidthRate 3 GB', 'BandwidthBurst 3 GB'), /^line 3: BandwidthRate: \d+ must be at most 2147483647/],
    ['bad size', conf('BandwidthRate lots'), /^line 3: BandwidthRate: 'lots' is not a size/],
    ['bind address name', conf('OutboundBindAddress example.com'), /^line 3: OutboundBindAddress: 'example.com' is not an IP address/],
    ['two IPv4 binds', conf('OutboundBindAddress 1.2.3.4', 'OutboundBindAddress 5.6.7.8'), /^line 4: OutboundBindAddress: a second IPv4 address/],
    ['bad exit policy', conf('ExitPolicy accept *:99999'), /^line 3: ExitPolicy: .*port out of range/],
    ['bad DirAuthority', ['ORPort 9001', 'DirAuthority 127.0.0.1:7000'].join('\n'), /^line 2: DirAuthority: missing fingerprint/],
    ['no v3ident', ['ORPort 9001', `DirAuthority a orport=1 127.0.0.1:7000 ${FP}`].join('\n'), /^line 2: DirAuthority: a: a v3ident=HEX flag is required/],
    ['no orport', ['ORPort 9001', `DirAuthority a v3ident=${V3} 127.0.0.1:7000 ${FP}`].join('\n'), /^line 2: DirAuthority: a: an orport=N flag is required/],
    ['only a bridge authority', ['ORPort 9001', `DirAuthority b orport=1 bridge 127.0.0.1:7000 ${FP}`].join('\n'), /only bridge authorities/],
    ['TestingTorNetwork without DirAuthority', ['ORPort 9001', 'TestingTorNetwork 1'].join('\n'), /^TestingTorNetwork 1 needs DirAuthority/],
    ['MaxCircuits 0', conf('MaxCircuits 0'), /^line 3: MaxCircuits: '0' is out of range/],
    ['CreateRateLimit negative', conf('CreateRateLimit -1'), /^line 3: CreateRateLimit: '-1' is out of range/],
    ['unknown option', conf('ORPrt 9001'), /^line 3: unknown option 'ORPrt'; did you mean 'ORPort'\?/],
    ['Nickname twice', conf('Nickname a', 'Nickname b'), /^line 4: Nickname given twice \(first on line 3\)/],
    ['bool', conf('BridgeRelay yes'), /^line 3: BridgeRelay: 'yes' is not 0 or 1/],
    ['wss without key', conf('WebSocketPort 443 cert=/a.pem'), /^line 3: WebSocketPort: wss needs both cert=FILE and key=FILE/],
    ['wss empty cert', conf('WebSocketPort 443 cert= key=/k.pem'), /^line 3: WebSocketPort: flag 'cert' needs a value/],
    ['ws bad path', conf('WebSocketPort 80 path=tor'), /^line 3: WebSocketPort: path 'tor' must start with '\/'/],
    ['ws unknown flag', conf('WebSocketPort 80 tls=1'), /^line 3: WebSocketPort: unknown flag 'tls=1'/],
    ['ws on the ORPort', conf('WebSocketPort 9001'), /^line 3: WebSocketPort: 9001 is already used by ORPort/],
    ['two ORPorts alike', ['ORPort 127.0.0.1:9001', 'ORPort 127.0.0.1:9001', AUTH].join('\n'), /^line 2: ORPort: 127.0.0.1:9001 is already used by ORPort/],
  ];
  for (const [name, text, message] of cases) {
    it(name, () => {
      expect(configError(text).message).toMatch(message);
    });
  }

  it('continued lines report the line the entry starts on', () => {
    const e = configError(['ORPort 9001', AUTH, 'ExitPolicy accept *:80,\\', '  accept *:99999'].join('\n'));
    expect(e.line).toBe(3);
    expect(e.text).toContain('99999');
  });
});

describe('relay config: allowed combinations', () => {
  it('BridgeRelay 1 with PublishServerDescriptor 1 is fine (it publishes to the bridge authority)', () => {
    const c = parseRelayConfig(conf('BridgeRelay 1', 'PublishServerDescriptor 1'));
    expect(c.bridgeRelay).toBe(true);
    expect(c.publishServerDescriptor).toBe(true);
    // Without a bridge authority configured the descriptor goes nowhere: said, not refused.
    expect(c.warnings.some((w) => w.includes('bridge authority'))).toBe(true);
    const withAuth = parseRelayConfig(conf('BridgeRelay 1', `DirAuthority b bridge orport=1 127.0.0.2:7000 ${FP}`));
    expect(withAuth.warnings.some((w) => w.includes('bridge authority'))).toBe(false);
  });

  it('a bridge may have a lower BandwidthRate than a relay', () => {
    const c = parseRelayConfig(conf('BridgeRelay 1', 'BandwidthRate 50 KB', 'BandwidthBurst 50 KB'));
    expect(c.bandwidthRate).toBe(BRIDGE_REQUIRED_MIN_BANDWIDTH);
    expect(configError(conf('BandwidthRate 50 KB')).message).toMatch(/at least 76800/);
    expect(parseRelayConfig(conf('BandwidthRate 75 KB')).bandwidthRate).toBe(RELAY_REQUIRED_MIN_BANDWIDTH);
  });

  it('"2 GB" means the largest bandwidth, as in tor', () => {
    const c = parseRelayConfig(conf('BandwidthRate 2 GB', 'BandwidthBurst 2 GB'));
    expect(c.bandwidthRate).toBe(MAX_BANDWIDTH);
    expect(c.bandwidthBurst).toBe(MAX_BANDWIDTH);
  });

  it('PublishServerDescriptor takes tor\'s values', () => {
    expect(parseRelayConfig(conf('PublishServerDescriptor 0')).publishServerDescriptor).toBe(false);
    expect(parseRelayConfig(conf('PublishServerDescriptor v3')).publishServerDescriptor).toBe(true);
    expect(parseRelayConfig(conf('PublishServerDescriptor v3,bridge')).publishServerDescriptor).toBe(true);
  });

  it('ORPort with NoListen and a NoAdvertise twin (port forwarding), auto, and IPv6', () => {
    const c = parseRelayConfig(['ORPort 443 NoListen', 'ORPort 127.0.0.1:9090 NoAdvertise', 'ORPort [::1]:9091 IPv6Only', AUTH].join('\n'));
    expect(c.orPorts).toEqual([
      { address: undefined, port: 443, listen: false, advertise: true, family: undefined },
      { address: '127.0.0.1', port: 9090, listen: true, advertise: false, family: undefined },
      { address: '::1', port: 9091, listen: true, advertise: true, family: 6 },
    ]);
    expect(parseRelayConfig(['ORPort auto', AUTH].join('\n')).orPorts[0]!.port).toBe('auto');
    // A NoListen ORPort does not bind, so a WebSocketPort may use its number.
    expect(parseRelayConfig(['ORPort 443 NoListen', 'ORPort 9090 NoAdvertise', 'WebSocketPort 443', AUTH].join('\n')).webSocketPorts).toHaveLength(1);
  });

  it('Address takes a host name, and one IPv4 with one IPv6', () => {
    expect(parseRelayConfig(conf('Address Relay.Example.org')).addresses).toEqual(['relay.example.org']);
    expect(parseRelayConfig(conf('Address 203.0.113.5', 'Address [2001:db8::5]')).addresses).toEqual(['203.0.113.5', '2001:db8::5']);
  });

  it('TestingTorNetwork without AssumeReachable gets a warning', () => {
    const c = parseRelayConfig(conf('TestingTorNetwork 1'));
    expect(c.warnings.some((w) => w.includes('AssumeReachable'))).toBe(true);
  });
});

describe('relay config: properties', () => {
  it('any text gives a RelayConfig or a ConfigError, never another exception', () => {
    const words = fc.constantFrom(
      'ORPort', 'WebSocketPort', 'Nickname', 'Address', 'ExitPolicy', 'ExitRelay', 'BandwidthRate', 'BandwidthBurst',
      'DirAuthority', 'OutboundBindAddress', 'PublishServerDescriptor', 'MaxCircuits', 'BridgeRelay', '/ExitPolicy',
    );
    const values = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('9001', '0', 'auto', '1', '127.0.0.1:9001', '[::1]:1', 'accept *:80', 'cert=/a key=/b', '1 GB', 'v3', FP),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(words, values), { maxLength: 8 }), fc.boolean(), (lines, withBase) => {
        const text = [...(withBase ? ['ORPort 9001', AUTH] : []), ...lines.map(([k, v]) => `${k} ${v}`)].join('\n');
        try {
          const c = parseRelayConfig(text);
          expect(c.orPorts.length).toBeGreaterThan(0);
          expect(c.bandwidthBurst).toBeGreaterThanOrEqual(c.bandwidthRate);
          // The effective policy is consistent with the exit flag.
          expect(c.isExit).toBe(!(c.exitPolicy.rejectsAll(4) && c.exitPolicy.rejectsAll(6)));
        } catch (e) {
          expect(e).toBeInstanceOf(TelescopeError);
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary text never throws anything but ConfigError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseRelayConfig(text);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
    );
  });

  it('a non-exit never lets anything out', () => {
    fc.assert(
      fc.property(fc.constantFrom('ExitRelay 0', 'ExitRelay auto', 'ExitPolicy reject *:*'), fc.integer({ min: 1, max: 65535 }), (line, port) => {
        const c = parseRelayConfig(conf(line));
        expect(c.isExit).toBe(false);
        expect(c.exitPolicy.allows('93.184.216.34', port)).toBe(false);
        expect(c.exitPolicy.allows('2001:db8::1', port)).toBe(false);
      }),
    );
  });
});

describe('relay config: connection caps and DoS defences', () => {
  it('defaults: MaxConnections 4096, every DoS* option left to the consensus (or tor\'s default)', () => {
    const c = parseRelayConfig(conf());
    expect(c.maxConnections).toBe(4096);
    expect(c.dos).toEqual({});
  });

  it('reads every DoS* option as an override; auto and 0 mean "not set", as in tor', () => {
    const c = parseRelayConfig(conf(
      'MaxConnections 500',
      'DoSConnectionEnabled 1',
      'DoSConnectionMaxConcurrentCount 8',
      'DoSConnectionDefenseType 2',
      'DoSConnectionConnectRate 5',
      'DoSConnectionConnectBurst 10',
      'DoSConnectionConnectDefenseTimePeriod 600',
      'DoSCircuitCreationEnabled 0',
      'DoSCircuitCreationMinConnections 2',
      'DoSCircuitCreationRate 4',
      'DoSCircuitCreationBurst 120',
      'DoSCircuitCreationDefenseType 1',
      'DoSCircuitCreationDefenseTimePeriod 0',
    ));
    expect(c.maxConnections).toBe(500);
    expect(c.dos).toEqual({
      connectionEnabled: 1,
      connectionMaxConcurrentCount: 8,
      connectionDefenseType: 2,
      connectionConnectRate: 5,
      connectionConnectBurst: 10,
      connectionConnectDefenseTimePeriod: 600,
      circuitCreationEnabled: 0,
      circuitCreationMinConnections: 2,
      circuitCreationRate: 4,
      circuitCreationBurst: 120,
      circuitCreationDefenseType: 1,
    });
    expect(parseRelayConfig(conf('DoSCircuitCreationEnabled auto')).dos).toEqual({});
  });

  it.each([
    ['Enabled not a bool', conf('DoSConnectionEnabled yes'), /^line 3: DoSConnectionEnabled: 'yes' is not auto, 0 or 1/],
    ['defense type 3', conf('DoSCircuitCreationDefenseType 3'), /^line 3: DoSCircuitCreationDefenseType: '3' is out of range/],
    ['negative rate', conf('DoSCircuitCreationRate -1'), /^line 3: DoSCircuitCreationRate: '-1' is out of range/],
    ['MaxConnections 0', conf('MaxConnections 0'), /^line 3: MaxConnections: '0' is out of range/],
  ])('refuses %s', (_name, text, message) => {
    expect(configError(text).message).toMatch(message);
  });
});

describe('relay config: MaxMemInQueues', () => {
  it('defaults to 256 MB; 0 means the default', () => {
    expect(parseRelayConfig(conf()).maxMemInQueues).toBe(256 * 2 ** 20);
    expect(parseRelayConfig(conf('MaxMemInQueues 0')).maxMemInQueues).toBe(256 * 2 ** 20);
  });

  it("reads tor's size units", () => {
    expect(parseRelayConfig(conf('MaxMemInQueues 512 MB')).maxMemInQueues).toBe(512 * 2 ** 20);
    expect(parseRelayConfig(conf('MaxMemInQueues 2 GB')).maxMemInQueues).toBe(2 * 2 ** 30);
    expect(parseRelayConfig(conf('MaxMemInQueues 300000 KBytes')).maxMemInQueues).toBe(300000 * 1024);
    const c = parseRelayConfig(conf('MaxMemInQueues 1073741824 bytes'));
    expect(c.maxMemInQueues).toBe(2 ** 30);
    expect(c.warnings.some((w) => w.includes('MaxMemInQueues'))).toBe(false);
  });

  it('below 64 MB is raised to 64 MB, below 256 MB is warned about, as tor does on a relay', () => {
    const tiny = parseRelayConfig(conf('MaxMemInQueues 1 MB'));
    expect(tiny.maxMemInQueues).toBe(64 * 2 ** 20);
    expect(tiny.warnings.some((w) => w.includes('at least 64 MB'))).toBe(true);
    const low = parseRelayConfig(conf('MaxMemInQueues 100 MB'));
    expect(low.maxMemInQueues).toBe(100 * 2 ** 20);
    expect(low.warnings.some((w) => w.includes('MaxMemInQueues is low'))).toBe(true);
  });

  it('a malformed size is a ConfigError naming the line', () => {
    const e = configError(conf('MaxMemInQueues lots'));
    expect(e.line).toBe(3);
    expect(e.message).toContain('MaxMemInQueues');
  });
});

describe('relay config: IgnoreMissingRequiredProtocols', () => {
  it('ignores nothing by default, reads a protocol list, and names the line of a bad one', () => {
    expect(parseRelayConfig(conf()).ignoreMissingRequiredProtocols.isEmpty).toBe(true);
    expect(parseRelayConfig(conf('IgnoreMissingRequiredProtocols Relay=4,3 HSDir=2')).ignoreMissingRequiredProtocols.toString()).toBe('HSDir=2 Relay=3-4');
    const e = configError(conf('IgnoreMissingRequiredProtocols Relay=x'));
    expect(e.message).toContain('IgnoreMissingRequiredProtocols: bad version range "x" for protocol "Relay"');
    expect(e.line).toBe(3);
  });
});
