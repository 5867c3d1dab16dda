import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayCmd, Data, EndReason } from '../shared/cells/index.ts';
import type { RelayMsg } from '../shared/cells/index.ts';
import type { ProtocolError, Logger } from '../shared/util/index.ts';
import type { OnionStreamRequest } from '../shared/onion/index.ts';
import { TorStream, type StreamCarrier } from '../shared/stream/index.ts';
import { forwardToPorts } from './service-host.ts';

/**
 * The onion host's stream handler against real loopback TCP targets: a listed port is forwarded
 * (accepted once the target answers, bytes both ways), an unreachable target is refused with
 * CONNECTREFUSED, and a port the service does not list is answered false without touching the
 * network. Waits are on events, bounded only by the test timeout.
 */

class RecordingCarrier implements StreamCarrier {
  readonly sent: RelayMsg[] = [];
  private waiters: (() => void)[] = [];
  sendOnStream(_hop: number, _streamId: number, msg: RelayMsg): void {
    this.sent.push(msg);
    for (const w of this.waiters.splice(0)) w();
  }
  circuitWindowOpen(): Promise<void> {
    return Promise.resolve();
  }
  streamClosed(): void {}
  protocolViolation(error: ProtocolError): void {
    throw error;
  }
  get data(): string {
    return this.sent.filter((m): m is Data => m.command === RelayCmd.DATA).map((d) => new TextDecoder().decode(d.data)).join('');
  }
  /** Resolves once `pred` holds for what was sent. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.waiters.push(r));
  }
}

const quiet: Logger = { debug() {}, info() {}, notice() {}, warn() {} };
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function listen(onConnection: (s: net.Socket) => void): Promise<net.Server> {
  const srv = net.createServer((s) => {
    sockets.push(s);
    onConnection(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

function portOf(srv: net.Server): number {
  return (srv.address() as net.AddressInfo).port;
}

/** A client's stream to the service as OnionService hands it over, recording the host's decision. */
function request(port: number, carrier: RecordingCarrier): { req: OnionStreamRequest; decision: Promise<string> } {
  const stream = new TorStream(carrier, 0, 1, 'onion stream', true);
  let decide!: (d: string) => void;
  const decision = new Promise<string>((r) => { decide = r; });
  return {
    req: { port, stream, accept: () => decide('accepted'), refuse: (reason) => decide(`refused ${EndReason.nameOf(reason)}`) },
    decision,
  };
}

describe('forwardToPorts', () => {
  it('forwards a listed port to its target: accepted once the target answers, bytes both ways', async () => {
    let received = '';
    const target = await listen((s) => {
      s.on('data', (c: Buffer) => {
        received += c.toString();
        if (received === 'ping') s.write('pong');
      });
    });
    const handler = forwardToPorts([{ virtualPort: 80, target: { host: '127.0.0.1', port: portOf(target) } }], quiet);
    const carrier = new RecordingCarrier();
    const { req, decision } = request(80, carrier);
    expect(handler(req)).toBe(true);
    expect(await decision).toBe('accepted');
    req.stream.deliver(new Data(new TextEncoder().encode('ping')));
    await carrier.until(() => carrier.data === 'pong');
    expect(received).toBe('ping');
  });

  it('refuses with CONNECTREFUSED when the target does not answer', async () => {
    const closed = await listen(() => {});
    const port = portOf(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    servers.splice(servers.indexOf(closed), 1);
    const handler = forwardToPorts([{ virtualPort: 80, target: { host: '127.0.0.1', port } }], quiet);
    const { req, decision } = request(80, new RecordingCarrier());
    expect(handler(req)).toBe(true);
    expect(await decision).toBe('refused CONNECTREFUSED');
  });

  it('answers false for a port the service does not list, and decides nothing', async () => {
    let connections = 0;
    const target = await listen(() => { connections++; });
    const handler = forwardToPorts([{ virtualPort: 80, target: { host: '127.0.0.1', port: portOf(target) } }], quiet);
    let decided = false;
    const carrier = new RecordingCarrier();
    const stream = new TorStream(carrier, 0, 1, 'onion stream', true);
    expect(handler({ port: 443, stream, accept: () => { decided = true; }, refuse: () => { decided = true; } })).toBe(false);
    expect(decided).toBe(false);
    expect(connections).toBe(0);
  });
});
