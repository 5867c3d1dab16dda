import { describe, expect, it } from 'vitest';
import { NOTHING_NEGOTIATED } from '../crypto/index.ts';
import { ProtocolError } from '../util/index.ts';
import { congestionControlFor, type CircuitCongestionControl } from './congestion.ts';
import { FixedCircuitWindows } from './fixed-windows.ts';

/**
 * Today's circuit congestion control, driven only through the CircuitCongestionControl interface
 * as circuits and relay circuits drive it: tor's fixed windows (1000 DATA cells, +100 per SENDME)
 * with authenticated SENDMEs (v1, prop 289).
 */

/** A distinct running digest for the `i`th DATA cell. */
function digestOf(i: number): Uint8Array {
  const d = new Uint8Array(20);
  new DataView(d.buffer).setUint32(0, i + 1);
  return d;
}

const make = (): CircuitCongestionControl => congestionControlFor(NOTHING_NEGOTIATED, 'test hop');

/** Send DATA cells while the window lets us; returns how many went. */
function sendAll(cc: CircuitCongestionControl, from: number): number {
  let n = 0;
  while (cc.canSend) cc.dataSent(digestOf(from + n++));
  return n;
}

describe('circuit congestion control for a hop that negotiated nothing: fixed windows', () => {
  it('is the fixed windows', () => {
    expect(make()).toBeInstanceOf(FixedCircuitWindows);
  });

  it('lets 1000 DATA cells go, then 100 more per SENDME echoing the digest of the 100th cell not yet acknowledged', async () => {
    const cc = make();
    expect(sendAll(cc, 0)).toBe(1000);
    let opened = false;
    const waiting = cc.whenCanSend().then(() => { opened = true; });
    await Promise.resolve();
    expect(opened).toBe(false);
    cc.sendmeReceived(1, digestOf(99));
    await waiting;
    expect(opened).toBe(true);
    expect(sendAll(cc, 1000)).toBe(100);
    // The next SENDMEs acknowledge cells 200, 300, ... in order.
    cc.sendmeReceived(1, digestOf(199));
    cc.sendmeReceived(1, digestOf(299));
    expect(sendAll(cc, 1100)).toBe(200);
  });

  it('refuses a SENDME with the wrong digest, an unauthenticated one, and one for data never sent', () => {
    const wrong = make();
    sendAll(wrong, 0);
    expect(() => wrong.sendmeReceived(1, digestOf(100))).toThrow(new ProtocolError('test hop', 'SENDME with the wrong digest'));
    expect(wrong.canSend).toBe(false);
    const v0 = make();
    sendAll(v0, 0);
    expect(() => v0.sendmeReceived(0, undefined)).toThrow(new ProtocolError('test hop', 'unauthenticated (v0) circuit SENDME'));
    const early = make();
    for (let i = 0; i < 99; i++) early.dataSent(digestOf(i));
    expect(() => early.sendmeReceived(1, digestOf(0))).toThrow(new ProtocolError('test hop', 'SENDME for data that was never sent'));
  });

  it('asks for a SENDME at every 100th DATA cell received, echoing that cell\'s digest', () => {
    const cc = make();
    const acks: number[] = [];
    for (let i = 0; i < 2500; i++) {
      const ack = cc.dataReceived(digestOf(i));
      if (ack) {
        expect(ack).toEqual(digestOf(i));
        acks.push(i);
      }
    }
    expect(acks).toEqual(Array.from({ length: 25 }, (_, k) => 100 * k + 99));
  });

  it('two ends agree: every SENDME one asks for is accepted by the other, and the sender never stalls', () => {
    const sender = make();
    const receiver = make();
    for (let i = 0; i < 5000; i++) {
      expect(sender.canSend).toBe(true);
      sender.dataSent(digestOf(i));
      const ack = receiver.dataReceived(digestOf(i));
      if (ack) sender.sendmeReceived(1, ack);
    }
  });

  it('close releases whoever waits for the window', async () => {
    const cc = make();
    sendAll(cc, 0);
    const waiting = cc.whenCanSend();
    cc.close();
    await waiting;
    expect(cc.canSend).toBe(false);
  });
});
