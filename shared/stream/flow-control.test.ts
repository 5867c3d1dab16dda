import { describe, expect, it } from 'vitest';
import { RELAY_DATA_MAX, Sendme, type RelayMsg } from '../cells/index.ts';
import { NOTHING_NEGOTIATED } from '../crypto/index.ts';
import { ProtocolError } from '../util/index.ts';
import { FixedStreamWindows, streamFlowControlFor, type StreamFlowControl } from './flow-control.ts';

/**
 * Today's stream flow control, driven only through the StreamFlowControl interface as a stream
 * drives it: tor's fixed stream windows (500 DATA cells, +50 per SENDME), SENDMEs held back while
 * the reader has not taken what came.
 */

function make(): { flow: StreamFlowControl; sent: RelayMsg[] } {
  const sent: RelayMsg[] = [];
  return { flow: streamFlowControlFor(NOTHING_NEGOTIATED, { context: 'stream 7', send: (m) => sent.push(m) }), sent };
}

function sendAll(flow: StreamFlowControl): number {
  let n = 0;
  for (; flow.canSend; n++) flow.dataSent();
  return n;
}

describe('stream flow control on a hop that negotiated nothing: fixed windows', () => {
  it('is the fixed windows', () => {
    expect(make().flow).toBeInstanceOf(FixedStreamWindows);
  });

  it('lets 500 DATA cells go, then 50 more per SENDME; a SENDME past 500 is refused', async () => {
    const { flow } = make();
    expect(sendAll(flow)).toBe(500);
    let opened = false;
    const waiting = flow.whenCanSend().then(() => { opened = true; });
    await Promise.resolve();
    expect(opened).toBe(false);
    flow.sendmeReceived();
    await waiting;
    expect(sendAll(flow)).toBe(50);
    for (let i = 0; i < 10; i++) flow.sendmeReceived();
    expect(() => flow.sendmeReceived()).toThrow(new ProtocolError('stream 7', 'stream SENDME beyond the window'));
  });

  it('sends an unauthenticated SENDME per 50 DATA cells received once the reader keeps up, none while it lags', () => {
    const { flow, sent } = make();
    for (let i = 0; i < 49; i++) flow.dataReceived();
    flow.unreadChanged(0);
    expect(sent).toEqual([]);
    flow.dataReceived();
    // 50 cells wait unread: the SENDME waits until the reader takes some.
    const lagging = 50 * RELAY_DATA_MAX;
    flow.unreadChanged(lagging);
    expect(sent).toEqual([]);
    flow.unreadChanged(lagging - 1);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(Sendme);
    expect((sent[0] as Sendme).version).toBe(0);
    expect((sent[0] as Sendme).digest).toBeUndefined();
    flow.unreadChanged(0);
    expect(sent).toHaveLength(1);
  });

  it('refuses the 501st DATA cell the reader never made room for', () => {
    const { flow, sent } = make();
    for (let i = 0; i < 500; i++) {
      flow.dataReceived();
      flow.unreadChanged((i + 1) * RELAY_DATA_MAX);
    }
    expect(sent).toEqual([]);
    expect(() => flow.dataReceived()).toThrow(new ProtocolError('stream 7', 'exit sent DATA beyond the stream window'));
  });

  it('close releases whoever waits for the window', async () => {
    const { flow } = make();
    sendAll(flow);
    const waiting = flow.whenCanSend();
    flow.close();
    await waiting;
    expect(flow.canSend).toBe(false);
  });
});
