import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { WebSocket } from 'ws';
import type { ByteTransport } from '../../shared/channel/index.ts';
import type { Logger } from '../../shared/util/index.ts';
import { RelayKeys } from '../relay/keys.ts';
import { makeTlsCredentials, tlsServerOptions } from '../relay/tls-cert.ts';
import { listenTls, listenWebSocket, type Admission, type PeerInfo } from './listeners.ts';

/**
 * The listeners on loopback, with real sockets: the gate sees every TCP connection before any
 * TLS or HTTP work and can refuse it; the peer's address reaches the relay beside the transport
 * and never in its description; connections that never finish their TLS handshake or HTTP
 * upgrade are closed; a server error such as EMFILE is logged, not fatal.
 */

const credentials = tlsServerOptions(makeTlsCredentials(RelayKeys.generate().identity));
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

class Lines implements Logger {
  readonly lines: string[] = [];
  debug(m: string): void { this.lines.push(m); }
  info(m: string): void { this.lines.push(m); }
  notice(m: string): void { this.lines.push(m); }
  warn(m: string): void { this.lines.push(m); }
}

/** A gate that admits `limit` connections at once and records what it saw. */
function countingGate(limit: number) {
  const seen: PeerInfo[] = [];
  let open = 0;
  return {
    seen,
    get open() { return open; },
    gate: (peer: PeerInfo): Admission | undefined => {
      seen.push(peer);
      if (open >= limit) return undefined;
      open++;
      let done = false;
      return { release: () => { if (!done) { done = true; open--; } } };
    },
  };
}

function closedWithin(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.on('close', () => resolve());
    socket.on('error', () => {});
  });
}

function openWs(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('WebSocket listener', () => {
  it('hands the peer address beside the transport, never in its description', async () => {
    const got: { t: ByteTransport; peer: PeerInfo }[] = [];
    const l = await listenWebSocket({ host: '127.0.0.1', port: 0 }, (t, peer) => got.push({ t, peer }));
    closers.push(() => l.close());
    const ws = await openWs(l.port);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(1);
    expect(got[0]!.peer.address).toMatch(/127\.0\.0\.1$/);
    expect(got[0]!.t.description).not.toContain('127.0.0.1');
    ws.terminate();
  });

  it('the gate refuses connections over its cap before any HTTP work, and counts them released', async () => {
    const g = countingGate(2);
    let upgraded = 0;
    const l = await listenWebSocket({ host: '127.0.0.1', port: 0 }, () => upgraded++, { gate: g.gate });
    closers.push(() => l.close());
    const a = await openWs(l.port);
    const b = await openWs(l.port);
    await expect(openWs(l.port)).rejects.toThrow();
    expect(upgraded).toBe(2);
    expect(l.refused()).toBe(1);
    a.terminate();
    await new Promise((r) => a.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(g.open).toBe(1);
    // Room again.
    const c = await openWs(l.port);
    expect(upgraded).toBe(3);
    b.terminate();
    c.terminate();
  });

  it('closes a connection that never sends its upgrade request, and one that sends half of it', async () => {
    const g = countingGate(100);
    const l = await listenWebSocket({ host: '127.0.0.1', port: 0, preLinkTimeoutMs: 300 }, () => {}, { gate: g.gate });
    closers.push(() => l.close());
    const silent = net.connect(l.port, '127.0.0.1');
    const slow = net.connect(l.port, '127.0.0.1', () => slow.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'));
    await Promise.all([closedWithin(silent), closedWithin(slow)]);
    await new Promise((r) => setTimeout(r, 50));
    expect(g.open).toBe(0);
  });

  it('an upgraded connection is not closed by the pre-link timeout', async () => {
    const l = await listenWebSocket({ host: '127.0.0.1', port: 0, preLinkTimeoutMs: 200 }, () => {});
    closers.push(() => l.close());
    const ws = await openWs(l.port);
    await new Promise((r) => setTimeout(r, 700));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.terminate();
  });

  it('survives server errors (EMFILE on accept): logged, and the listener keeps serving', async () => {
    const log = new Lines();
    const l = await listenWebSocket({ host: '127.0.0.1', port: 0 }, () => {}, { log });
    closers.push(() => l.close());
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    // Without a listener this 'error' would be thrown and end the process.
    l.server.emit('error', emfile);
    expect(log.lines.some((x) => x.includes('EMFILE'))).toBe(true);
    const ws = await openWs(l.port);
    ws.terminate();
  });
});

describe('ORPort (TLS) listener', () => {
  it('the gate refuses before the TLS handshake; the peer address comes beside the transport', async () => {
    const g = countingGate(1);
    const got: PeerInfo[] = [];
    const l = await listenTls({ host: '127.0.0.1', port: 0, credentials }, (t, peer) => { got.push(peer); expect(t.description).not.toContain('127.0.0.1'); }, { gate: g.gate });
    closers.push(() => l.close());
    const first = tls.connect({ host: '127.0.0.1', port: l.port, rejectUnauthorized: false });
    await new Promise((r) => first.once('secureConnect', r));
    const second = tls.connect({ host: '127.0.0.1', port: l.port, rejectUnauthorized: false });
    const secondFailed = new Promise<boolean>((resolve) => { second.once('secureConnect', () => resolve(false)); second.once('error', () => resolve(true)); second.once('close', () => resolve(true)); });
    expect(await secondFailed).toBe(true);
    expect(got).toHaveLength(1);
    expect(got[0]!.address).toMatch(/127\.0\.0\.1$/);
    expect(l.refused()).toBe(1);
    first.destroy();
  });

  it('closes a connection that never finishes its TLS handshake', async () => {
    const g = countingGate(10);
    const l = await listenTls({ host: '127.0.0.1', port: 0, credentials, preLinkTimeoutMs: 300 }, () => {}, { gate: g.gate });
    closers.push(() => l.close());
    const silent = net.connect(l.port, '127.0.0.1');
    await closedWithin(silent);
    await new Promise((r) => setTimeout(r, 50));
    expect(g.open).toBe(0);
  });

  it('survives server errors', async () => {
    const log = new Lines();
    const l = await listenTls({ host: '127.0.0.1', port: 0, credentials }, () => {}, { log });
    closers.push(() => l.close());
    l.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    expect(log.lines.some((x) => x.includes('EMFILE'))).toBe(true);
  });
});
