import { describe, expect, it } from 'vitest';
import { NETWORK_PLAN, expectedFlags, isRelay, layOut } from './plan.ts';

describe('network layout', () => {
  const ports = Array.from({ length: NETWORK_PLAN.length * 2 }, (_, i) => 20_000 + i);
  const layout = layOut('/tmp/tn', ports);

  it('gives each tor its DataDirectory, torrc and log under DIR/NICKNAME', () => {
    expect(layout.nodes.map((n) => n.dataDir)).toEqual(NETWORK_PLAN.map((p) => `/tmp/tn/${p.nickname}`));
    for (const n of layout.nodes) {
      expect(n.torrc).toBe(`${n.dataDir}/torrc`);
      expect(n.notice).toBe(`${n.dataDir}/notice.log`);
    }
    expect([layout.emptyTorrc, layout.resolvConf, layout.bandwidthFile, layout.webDir]).toEqual(['/tmp/tn/empty-torrc', '/tmp/tn/resolv.conf', '/tmp/tn/bandwidth.txt', '/tmp/tn/web']);
  });

  it('gives relays an ORPort and a DirPort, the client a SocksPort, and no port twice', () => {
    const used: number[] = [];
    for (const n of layout.nodes) {
      if (isRelay(n.plan)) {
        expect(n.orPort).toBeGreaterThan(0);
        expect(n.dirPort).toBeGreaterThan(0);
        expect(n.socksPort).toBe(0);
        used.push(n.orPort, n.dirPort);
      } else if (n.plan.kind === 'client') {
        expect([n.orPort, n.dirPort]).toEqual([0, 0]);
        used.push(n.socksPort);
      } else {
        expect([n.orPort, n.dirPort, n.socksPort]).toEqual([0, 0, 0]);
      }
    }
    expect(new Set(used).size).toBe(used.length);
    expect(() => layOut('/tmp/tn', ports.slice(1))).toThrow(RangeError);
  });

  it('expects the flags the authorities are told to give', () => {
    const byName = (nick: string) => NETWORK_PLAN.find((p) => p.nickname === nick)!;
    expect(expectedFlags(byName('test000a'))).toEqual(['Running', 'Valid', 'HSDir', 'Authority']);
    expect(expectedFlags(byName('test003r'))).toEqual(['Running', 'Valid', 'HSDir', 'Guard']);
    expect(expectedFlags(byName('test006e'))).toEqual(['Running', 'Valid', 'HSDir', 'Exit']);
  });
});
