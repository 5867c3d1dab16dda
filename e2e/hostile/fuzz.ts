import * as net from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import { fromHex } from '../../shared/bytes/index.ts';
import { ChanCmd, encodeCell } from '../../shared/cells/index.ts';
import { Channel, WebSocketTransport } from '../../shared/channel/index.ts';
import type { ByteTransport } from '../../shared/channel/index.ts';
import { Circuit } from '../../shared/circuit/index.ts';
import { Tally } from './outcomes.ts';
import { BoundTlsTransport, type BridgeEndpoint, ThrowawayRelay, boundWebSocket, bridgeTarget, circuitOptions, rawConnect, rawWebSocket, sleep, upgradeRequest, within, wsFrame } from './peer.ts';

/**
 * The fuzz run: for a bounded time, many short connections to one listener of the relay-bridge,
 * each feeding it something broken — random and mutated cells (mutations of the valid cells a real
 * link and circuit just sent), WebSocket frames that break RFC 6455, HTTP upgrade requests with
 * malformed or huge headers, TLS records that are garbage before or after the ClientHello. Inputs
 * come from a seeded generator per worker, so a failing run can be replayed with its seed.
 */

/** mulberry32: small, fast, seedable; good enough to pick fuzz inputs. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** A mutation of `b`: bit flips, a byte overwritten, cut short, grown, or spliced with another. */
export function mutate(rng: Rng, b: Uint8Array, other?: Uint8Array): Uint8Array {
  const c = b.slice();
  switch (rng.int(7)) {
    case 0: // flip a few bits
      for (let i = 0, n = 1 + rng.int(8); i < n && c.length > 0; i++) c[rng.int(c.length)]! ^= 1 << rng.int(8);
      return c;
    case 1: // overwrite bytes near the start (circuit id, command, length)
      for (let i = 0, n = 1 + rng.int(3); i < n && c.length > 0; i++) c[rng.int(Math.min(c.length, 8))] = rng.int(256);
      return c;
    case 2: // cut short
      return c.subarray(0, rng.int(c.length + 1));
    case 3: // grow with random bytes
      return concat(c, rng.bytes(1 + rng.int(600)));
    case 4: // splice with another valid chunk
      return other ? concat(c.subarray(0, rng.int(c.length + 1)), other.subarray(rng.int(other.length + 1))) : c;
    case 5: // the command byte of a 4-byte-id cell set to anything
      if (c.length > 4) c[4] = rng.int(256);
      return c;
    default: // repeated
      return concat(c, c);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A transport that records what the channel sends and lets the fuzzer send raw bytes under it. */
class RecordingTransport implements ByteTransport {
  readonly sent: Uint8Array[] = [];
  constructor(private readonly inner: ByteTransport) {}
  get onData() { return this.inner.onData; }
  set onData(f) { this.inner.onData = f; }
  get onClose() { return this.inner.onClose; }
  set onClose(f) { this.inner.onClose = f; }
  get description(): string { return this.inner.description; }
  get peerCertificate(): Uint8Array | undefined { return this.inner.peerCertificate; }
  get bufferedAmount(): number | undefined { return this.inner.bufferedAmount; }
  send(data: Uint8Array): void {
    if (this.sent.length < 64) this.sent.push(data.slice());
    this.inner.send(data);
  }
  /** Bytes straight onto the link, past the channel's framing. */
  inject(data: Uint8Array): void {
    this.inner.send(data);
  }
  close(): void { this.inner.close(); }
}

export interface FuzzTarget {
  readonly relay: BridgeEndpoint;
  readonly listener: 'websocket' | 'orport';
  /** A real ClientHello, captured from Node's TLS client (for garbage after it). */
  readonly clientHello: Uint8Array;
}

type Case = (rng: Rng, t: FuzzTarget, address: string) => Promise<void>;

/** A link (WebSocket or TLS, anonymous or authenticated) with a circuit, then mutated cells. */
const cellsAfterHandshake: Case = async (rng, t, address) => {
  const inner: ByteTransport = t.listener === 'websocket'
    ? await WebSocketTransport.connect(t.relay.webSocketUrl, { WebSocket: boundWebSocket(address), timeoutMs: 5000 })
    : await BoundTlsTransport.connect(t.relay.orPort, address, 5000);
  const transport = new RecordingTransport(inner);
  const authenticate = t.listener === 'orport' && rng.chance(0.3) ? ThrowawayRelay.create() : undefined;
  const channel = await Channel.open(transport, {
    expected: { rsaIdentity: fromHex(t.relay.fingerprint) },
    ...(inner.peerCertificate ? { peerTlsCertificate: inner.peerCertificate } : {}),
    ...(authenticate && inner instanceof BoundTlsTransport ? { authenticator: authenticate.authenticator(inner) } : {}),
    timeoutMs: 5000,
  });
  try {
    let circId = 0x80000001;
    if (rng.chance(0.7)) {
      const circuit = await within(Circuit.create(channel, bridgeTarget(t.relay), circuitOptions), 5000, 'fuzz circuit');
      circId = circuit.circId;
      circuit.sendDrop(0, rng.int(498));
      if (rng.chance(0.5)) {
        const s = await circuit.openDirStream({ timeoutMs: 5000 });
        await s.write(new TextEncoder().encode('GET /tor/status-vote/current/consensus-microdesc HTTP/1.0\r\n\r\n'));
      }
      await sleep(20);
    }
    const valid = [
      ...transport.sent,
      encodeCell({ circId: (circId + 2) >>> 0, command: ChanCmd.CREATE_FAST, body: rng.bytes(20) }, 4),
      encodeCell({ circId, command: ChanCmd.RELAY, body: rng.bytes(509) }, 4),
      encodeCell({ circId, command: ChanCmd.RELAY_EARLY, body: rng.bytes(509) }, 4),
      encodeCell({ circId, command: ChanCmd.DESTROY, body: Uint8Array.of(rng.int(13)) }, 4),
      encodeCell({ circId: 0, command: ChanCmd.VPADDING, body: rng.bytes(rng.int(1000)) }, 4),
      encodeCell({ circId: 0, command: rng.pick([ChanCmd.VERSIONS, ChanCmd.NETINFO, ChanCmd.CERTS, ChanCmd.AUTHENTICATE, ChanCmd.AUTHORIZE, ChanCmd.PADDING_NEGOTIATE]), body: rng.bytes(rng.int(300)) }, 4),
    ];
    for (let i = 0, n = 1 + rng.int(30); i < n && channel.isOpen; i++) {
      transport.inject(mutate(rng, rng.pick(valid), rng.pick(valid)));
      if (rng.chance(0.2)) await sleep(rng.int(20));
    }
    await sleep(50 + rng.int(150));
  } finally {
    channel.close();
  }
};

/** Before the link handshake: mutated VERSIONS cells and random bytes, cut at random places. */
const bytesBeforeHandshake: Case = async (rng, t, address) => {
  const versions = Uint8Array.of(0, 0, 7, 0, 4, 0, 4, 0, 5);
  const data = rng.chance(0.3) ? rng.bytes(1 + rng.int(3000)) : concat(mutate(rng, versions, versions), rng.chance(0.5) ? rng.bytes(rng.int(1100)) : new Uint8Array(0));
  if (t.listener === 'websocket') {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(t.relay.webSocketUrl, { localAddress: address, perMessageDeflate: false });
      const done = () => { ws.terminate(); resolve(); };
      const timer = setTimeout(done, 2000);
      ws.on('open', () => {
        for (let pos = 0; pos < data.length;) {
          const n = 1 + rng.int(600);
          ws.send(data.subarray(pos, pos + n));
          pos += n;
        }
        setTimeout(() => { clearTimeout(timer); done(); }, 30 + rng.int(100));
      });
      ws.on('error', () => { clearTimeout(timer); done(); });
      ws.on('close', () => { clearTimeout(timer); resolve(); });
    });
    return;
  }
  await new Promise<void>((resolve) => {
    const tcp = net.connect({ host: '127.0.0.1', port: t.relay.orPort, localAddress: address });
    const s = tls.connect({ socket: tcp, rejectUnauthorized: false }, () => {
      s.write(data);
      setTimeout(() => s.destroy(), 30 + rng.int(100));
    });
    const timer = setTimeout(() => s.destroy(), 3000);
    // The relay cutting us off is the expected answer to garbage; the close below ends the case.
    tcp.on('error', () => s.destroy());
    s.on('error', () => s.destroy());
    s.on('close', () => { clearTimeout(timer); resolve(); });
  });
};

/** WebSocket frames that break RFC 6455, after a proper upgrade. */
const brokenFrames: Case = async (rng, t, address) => {
  const s = await rawWebSocket(t.relay.webSocketPort, address, 3000);
  const versions = Uint8Array.of(0, 0, 7, 0, 4, 0, 4, 0, 5);
  for (let i = 0, n = 1 + rng.int(8); i < n && !s.destroyed; i++) {
    const payload = rng.chance(0.3) ? versions : rng.bytes(rng.int(rng.chance(0.1) ? 70_000 : 200));
    const frame = (() => {
      switch (rng.int(9)) {
        case 0: return wsFrame(payload, { opcode: rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) }); // reserved opcodes
        case 1: return wsFrame(payload, { mask: false }); // clients must mask
        case 2: return wsFrame(payload, { rsv: 1 + rng.int(7) }); // no extension negotiated
        case 3: return wsFrame(payload, { announcedLength: rng.pick([2 ** 32, 2 ** 53 - 1, 1 << 21, payload.length + 1 + rng.int(100)]) }); // length lies
        case 4: return wsFrame(payload.subarray(0, 200), { opcode: rng.pick([8, 9, 10]), fin: rng.chance(0.5) }); // control frames, long or fragmented
        case 5: return wsFrame(payload, { opcode: 0 }); // continuation with nothing to continue
        case 6: return concat(wsFrame(payload, { fin: false }), wsFrame(rng.bytes(10), { opcode: 2 })); // new message inside a fragmented one
        case 7: return wsFrame(rng.bytes(rng.int(40)), { opcode: 1 }); // text, likely not UTF-8
        default: return mutate(rng, wsFrame(payload)); // a valid frame, mutated
      }
    })();
    s.write(frame);
    if (rng.chance(0.3)) await sleep(rng.int(20));
  }
  await sleep(30 + rng.int(100));
  s.destroy();
};

/** HTTP upgrade requests that are malformed, huge, or not upgrades at all. */
const badUpgrades: Case = async (rng, t, address) => {
  const s = await rawConnect(t.relay.webSocketPort, address, 3000);
  s.on('data', () => {});
  const port = t.relay.webSocketPort;
  const request = (() => {
    switch (rng.int(9)) {
      case 0: return upgradeRequest(port, '/', [`X-Huge: ${'a'.repeat(16_000 + rng.int(200_000))}`]);
      case 1: return upgradeRequest(port, '/', Array.from({ length: 200 + rng.int(2000) }, (_, i) => `X-H${i}: ${i}`));
      case 2: return upgradeRequest(port).replace('Sec-WebSocket-Version: 13', `Sec-WebSocket-Version: ${rng.int(100)}`);
      case 3: return upgradeRequest(port).replace(/Sec-WebSocket-Key: [^\r]*\r\n/, rng.chance(0.5) ? '' : 'Sec-WebSocket-Key: short\r\n');
      case 4: return `${rng.pick(['POST', 'PUT', 'CONNECT', 'GETT', 'G\0T', ''])} / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`;
      case 5: return upgradeRequest(port, rng.pick(['*', '//', '/../../etc/passwd', `/${'%'.repeat(500)}`, 'http://x/', '/\u0000']));
      case 6: return upgradeRequest(port, '/', ['Bad Header Line', ': empty', 'X-Fold: a\r\n  folded', `X-Bin: ${String.fromCharCode(...rng.bytes(20))}`]);
      case 7: return upgradeRequest(port, '/', ['Content-Length: 5', 'Transfer-Encoding: chunked']) + 'garbage';
      default: return new TextDecoder('latin1').decode(mutate(rng, new TextEncoder().encode(upgradeRequest(port))));
    }
  })();
  const bytes = Buffer.from(request, 'latin1');
  for (let pos = 0; pos < bytes.length && !s.destroyed;) {
    const n = rng.chance(0.2) ? 1 + rng.int(10) : bytes.length;
    s.write(bytes.subarray(pos, pos + n));
    pos += n;
    if (n < 10) await sleep(1);
  }
  await sleep(50 + rng.int(100));
  s.destroy();
};

/** TLS records: garbage instead of a ClientHello, or after a real one. */
const tlsRecords: Case = async (rng, t, address) => {
  const s = await rawConnect(t.relay.orPort, address, 3000);
  s.on('data', () => {});
  const record = (type: number, body: Uint8Array) => concat(Uint8Array.of(type, 3, rng.pick([1, 3, 4]), body.length >> 8, body.length & 0xff), body);
  switch (rng.int(4)) {
    case 0: s.write(rng.bytes(1 + rng.int(2000))); break; // garbage before any ClientHello
    case 1: s.write(mutate(rng, t.clientHello)); break; // a mutated ClientHello
    case 2: // a real ClientHello, then records of every type with garbage inside
      s.write(t.clientHello);
      await sleep(10 + rng.int(30));
      for (let i = 0, n = 1 + rng.int(5); i < n; i++) s.write(record(rng.pick([20, 21, 22, 23, 24, rng.int(256)]), rng.bytes(rng.int(600))));
      break;
    default: // a real ClientHello, then a record that announces more than it sends
      s.write(t.clientHello);
      await sleep(10);
      s.write(Uint8Array.of(23, 3, 3, 0xff, 0xff, ...rng.bytes(rng.int(100))));
  }
  await sleep(30 + rng.int(100));
  s.destroy();
};

const CASES: Record<FuzzTarget['listener'], readonly [string, Case][]> = {
  websocket: [['cells after the link handshake', cellsAfterHandshake], ['bytes before the handshake', bytesBeforeHandshake], ['broken WebSocket frames', brokenFrames], ['bad HTTP upgrades', badUpgrades]],
  orport: [['cells after the link handshake', cellsAfterHandshake], ['bytes before the handshake', bytesBeforeHandshake], ['TLS records', tlsRecords]],
};

export interface FuzzResult {
  readonly cases: Tally;
  /** Cases that could not even start (e.g. the connection was refused): counted, not errors. */
  readonly refused: Tally;
}

/**
 * Fuzz `target` for `durationMs` from `workers` parallel workers; worker i draws from seed + i. The
 * cases take turns over `addresses`, so that no one address goes over the relay's per-address
 * connection rate: the fuzzer is there to reach the parsers, not to be refused at the door.
 */
export async function fuzzListener(target: FuzzTarget, seed: number, durationMs: number, addresses: readonly string[], workers = 4): Promise<FuzzResult> {
  const cases = new Tally();
  const refused = new Tally();
  const deadline = Date.now() + durationMs;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    const rng = new Rng(seed + w);
    for (let k = 0; Date.now() < deadline; k++) {
      const address = addresses[(w + k * workers) % addresses.length]!;
      const [name, run] = rng.pick(CASES[target.listener]);
      try {
        await within(run(rng, target, address), 15_000, `fuzz case ${name}`);
        cases.add(name);
      } catch (e) {
        // The relay closing on us mid-case is the expected answer to most of these inputs.
        refused.add(`${name}: ${e instanceof Error ? e.message.replace(/[0-9a-f]{8,}|\d+/g, '#').slice(0, 70) : String(e)}`);
      }
    }
  }));
  return { cases, refused };
}

/** The first flight of Node's TLS client (a real ClientHello), captured from a local listener. */
export function captureClientHello(): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.once('data', (d: Buffer) => {
        resolve(new Uint8Array(d));
        socket.destroy();
        server.close();
      });
      socket.on('error', (e) => reject(e));
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false });
      // The listener hangs up after the first flight: the client's handshake is meant to fail.
      c.on('error', () => c.destroy());
    });
    server.on('error', reject);
  });
}
