import { describe, expect, it } from 'vitest';
import { UsageError } from '../util/index.ts';
import { fingerprintFor, GUARD_FLAGS, identityFor, MIDDLE_FLAGS, netDir, relay } from '../path/fixtures/synthetic-netdir.ts';
import { thrown } from '../testing/thrown.ts';
import { bridgeTarget, withBridges, type BridgeInfo } from './bridges.ts';

const key = new Uint8Array(32).fill(7);

describe('bridgeTarget', () => {
  it('makes a first hop from a bridge line: identity from the fingerprint, the IPv4 address and port', () => {
    const t = bridgeTarget({ address: '127.0.0.1', port: 9001, fingerprint: fingerprintFor('b1'), ntorOnionKey: key });
    expect(t.rsaIdentity).toEqual(identityFor('b1'));
    expect(t.ipv4).toEqual({ address: Uint8Array.of(127, 0, 0, 1), port: 9001 });
    expect(t.ntorOnionKey).toBe(key);
    expect(t.ed25519Identity).toBeUndefined();
  });

  it('stands 0.0.0.0 in for a WebSocket bridge named by host name', () => {
    const t = bridgeTarget({ address: 'bridge.example', port: 443, fingerprint: fingerprintFor('b1'), ntorOnionKey: key, url: 'wss://bridge.example/' });
    expect(t.ipv4).toEqual({ address: new Uint8Array(4), port: 443 });
  });

  it('refuses a bridge whose ntor key is not known yet', () => {
    const e = thrown(() => bridgeTarget({ address: '127.0.0.1', port: 9001, fingerprint: fingerprintFor('b1') }));
    expect(e).toBeInstanceOf(UsageError);
  });
});

describe('withBridges', () => {
  const guard = relay({ name: 'g1', flags: GUARD_FLAGS });
  const listedBridge = relay({ name: 'b1', flags: GUARD_FLAGS, family: ['m1'] });
  const middle = relay({ name: 'm1', flags: MIDDLE_FLAGS });
  const dir = netDir([guard, listedBridge, middle]);
  const bridges: BridgeInfo[] = [
    { address: '127.0.0.1', port: 9001, fingerprint: fingerprintFor('b1').toLowerCase(), ntorOnionKey: key },
    { address: '127.0.0.2', port: 9002, fingerprint: fingerprintFor('b2'), ntorOnionKey: key },
  ];
  const view = withBridges(dir, bridges);

  it('makes the bridges the only guards', () => {
    const guards = view.relays.filter((r) => r.flags.has('Guard')).map((r) => r.fingerprint);
    expect(guards).toEqual([fingerprintFor('b1'), fingerprintFor('b2')]);
    expect(view.relays.find((r) => r.fingerprint === guard.fingerprint)!.flags.has('Running')).toBe(true);
  });

  it('lists each bridge once, keeping what the consensus says of a listed one, and never as an exit', () => {
    expect(view.relays.filter((r) => r.fingerprint === fingerprintFor('b1')).length).toBe(1);
    const b1 = view.relays.find((r) => r.fingerprint === fingerprintFor('b1'))!;
    expect(b1.nickname).toBe('b1');
    expect(b1.family).toEqual([fingerprintFor('m1')]);
    expect(b1.ipv4).toEqual({ address: Uint8Array.of(127, 0, 0, 1), port: 9001 });
    const b2 = view.relays.find((r) => r.fingerprint === fingerprintFor('b2'))!;
    expect(b2.nickname).toBe('bridge');
    for (const b of [b1, b2]) expect(b.exitPolicy.allowsPort(443)).toBe(false);
    expect(view.relays.length).toBe(4);
  });

  it('leaves the rest of the network view as it was', () => {
    expect(view.validUntil).toBe(dir.validUntil);
    expect(view.weights).toBe(dir.weights);
    expect(dir.relays.find((r) => r.fingerprint === guard.fingerprint)!.flags.has('Guard')).toBe(true);
  });
});
