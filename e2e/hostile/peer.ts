import * as net from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import { requireIp } from '../../shared/addr/index.ts';
import { fromBase64, fromHex } from '../../shared/bytes/index.ts';
import { Channel, WebSocketTransport, type WebSocketConstructor } from '../../shared/channel/index.ts';
import type { LinkAuthenticator, ByteTransport } from '../../shared/channel/index.ts';
import type { RelayTarget } from '../../shared/circuit/index.ts';
import { ChannelError } from '../../shared/util/index.ts';
import { nodeAesCtr } from '../../node-platform/node-aes-ctr.ts';
import { LinkCertificates, initiatorAuthenticator } from '../../relay-bridge/relay/certs-cell.ts';
import { RelayKeys } from '../../relay-bridge/relay/keys.ts';
import { makeTlsCredentials } from '../../relay-bridge/relay/tls-cert.ts';
import type { RelayProcess } from '../../testnet/relay-process.ts';
import type { TestnetDescription } from '../../testnet/index.ts';

/**
 * Raw-protocol helpers for the hostile peers: links to the relay-bridge (WebSocket or TLS) from a
 * chosen source address, optionally authenticated with throwaway relay keys, built on the
 * project's own codecs so an attacker speaks real Tor where it has to.
 *
 * The whole of 127.0.0.0/8 is loopback on Linux. Every peer binds an address of its own, so
 * per-address defences can tell the abuser from the next comer.
 */

/**
 * The honest client's address. Not 127.0.0.1: the private network's relays all live there, and a
 * relay exempts its fellow relays' addresses from its DoS defences, so a client at 127.0.0.1
 * would pass them whatever they did to everyone else.
 */
export const HONEST_ADDRESS = '127.0.0.2';

/** A loopback source address for attacker `n` (127.0.0.66, 127.0.0.67, ...). */
export function attackerAddress(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 150) throw new RangeError(`attacker ${n}: out of range`);
  return `127.0.0.${66 + n}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`, or a rejection naming `what` once `ms` have passed. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); reject(e); });
  });
}

/** Circuit options every hostile and honest peer uses: OpenSSL AES, as the Node client does. */
export const circuitOptions = { aes: nodeAesCtr, hopTimeoutMs: 20_000 } as const;

// ---------------------------------------------------------------------------------------------
// Who is who
// ---------------------------------------------------------------------------------------------

/** What a peer needs to know of the bridge (what it printed): plain data, so it crosses processes. */
export type BridgeEndpoint = Pick<RelayProcess, 'fingerprint' | 'webSocketUrl' | 'webSocketLine' | 'orPort' | 'webSocketPort' | 'ntorKey'>;

export function bridgeEndpoint(relay: RelayProcess): BridgeEndpoint {
  return { fingerprint: relay.fingerprint, webSocketUrl: relay.webSocketUrl, webSocketLine: relay.webSocketLine, orPort: relay.orPort, webSocketPort: relay.webSocketPort, ntorKey: relay.ntorKey };
}

/** The relay-bridge as a circuit hop, from the bridge line it printed. */
export function bridgeTarget(relay: BridgeEndpoint): RelayTarget {
  const ed = /ed25519=(\S+)/.exec(relay.webSocketLine)?.[1];
  return {
    nickname: 'bridge',
    rsaIdentity: fromHex(relay.fingerprint),
    ...(ed ? { ed25519Identity: fromBase64(ed) } : {}),
    ntorOnionKey: fromBase64(relay.ntorKey),
    ipv4: { address: Uint8Array.of(127, 0, 0, 1), port: relay.orPort },
  };
}

/** A tor relay of the private network, by nickname, as a circuit hop. */
export function testnetTarget(desc: TestnetDescription, nickname: string): RelayTarget {
  const r = desc.relays.find((x) => x.nickname === nickname);
  if (!r) throw new Error(`no relay ${nickname} in the private network`);
  return {
    nickname: r.nickname,
    rsaIdentity: fromHex(r.fingerprint),
    ed25519Identity: fromBase64(r.ed25519Identity),
    ntorOnionKey: fromBase64(r.ntorOnionKey),
    ipv4: { address: requireIp(r.address, `relay ${r.nickname} address`).bytes, port: r.orPort },
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket links
// ---------------------------------------------------------------------------------------------

/** A `ws` WebSocket class whose connections leave from `localAddress`. */
export function boundWebSocket(localAddress: string): WebSocketConstructor {
  class Bound extends WebSocket {
    constructor(url: string) {
      super(url, { localAddress, perMessageDeflate: false });
    }
  }
  return Bound as unknown as WebSocketConstructor;
}

/** An open link to the bridge over WebSocket from `localAddress` (link handshake done). */
export async function webSocketChannel(relay: BridgeEndpoint, localAddress: string, timeoutMs = 20_000): Promise<Channel> {
  return (await webSocketLink(relay, localAddress, timeoutMs)).channel;
}

/** The same, with its transport, for attackers that stop reading (pause()) under the channel. */
export async function webSocketLink(relay: BridgeEndpoint, localAddress: string, timeoutMs = 20_000): Promise<{ transport: WebSocketTransport; channel: Channel }> {
  const transport = await WebSocketTransport.connect(relay.webSocketUrl, { WebSocket: boundWebSocket(localAddress), timeoutMs });
  return { transport, channel: await Channel.open(transport, { expected: { rsaIdentity: fromHex(relay.fingerprint) }, timeoutMs }) };
}

// ---------------------------------------------------------------------------------------------
// TLS links
// ---------------------------------------------------------------------------------------------

/** A TLS connection to an ORPort from a chosen source address, as a ByteTransport. */
export class BoundTlsTransport implements ByteTransport {
  onData: ((data: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  private finished = false;

  private constructor(readonly socket: tls.TLSSocket, readonly description: string, readonly peerCertificate: Uint8Array | undefined) {
    socket.on('data', (c: Buffer) => this.onData?.(new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
    socket.on('error', (e) => this.finish(e));
    socket.on('close', () => this.finish());
  }

  static connect(port: number, localAddress: string, timeoutMs = 15_000): Promise<BoundTlsTransport> {
    return new Promise((resolve, reject) => {
      // Our own TCP socket, so that it leaves from `localAddress`; TLS runs over it.
      const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
      const socket = tls.connect({ socket: tcp, rejectUnauthorized: false, minVersion: 'TLSv1.2', servername: '' });
      tcp.setNoDelay(true);
      tcp.on('error', (e) => socket.destroy(e));
      const timer = setTimeout(() => { socket.destroy(); reject(new ChannelError(`TLS to 127.0.0.1:${port} timed out`)); }, timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        const cert = socket.getPeerX509Certificate();
        resolve(new BoundTlsTransport(socket, `127.0.0.1:${port} from ${localAddress}`, cert ? new Uint8Array(cert.raw) : undefined));
      });
      socket.once('error', (e) => { clearTimeout(timer); reject(new ChannelError(`TLS to 127.0.0.1:${port} failed: ${e.message}`, { cause: e })); });
    });
  }

  send(data: Uint8Array): void {
    if (!this.finished) this.socket.write(data);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  close(): void {
    this.socket.destroy();
  }

  private finish(error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.onClose?.(error);
  }
}

/**
 * A relay identity made up for one attack: fresh RSA and Ed25519 keys that no consensus lists.
 * With it an attacker can AUTHENTICATE on a TLS link, as any relay does, and look like a relay
 * to a relay that only checks that the link authenticated.
 */
export class ThrowawayRelay {
  private constructor(readonly keys: RelayKeys, private readonly certs: LinkCertificates) {}

  static create(): ThrowawayRelay {
    const keys = RelayKeys.generate();
    return new ThrowawayRelay(keys, new LinkCertificates(keys, makeTlsCredentials(keys.identity)));
  }

  get fingerprint(): string {
    return this.keys.fingerprint;
  }

  /** CERTS + AUTHENTICATE for a link we open over `transport` (tor-spec link auth type 3). */
  authenticator(transport: BoundTlsTransport): LinkAuthenticator {
    return initiatorAuthenticator(this.certs, transport.socket);
  }
}

/**
 * An open link over TLS to the ORPort `port` of the relay `fingerprint`, from `localAddress`;
 * authenticated as `as` when given (a relay's link), else anonymous (a client's link).
 */
export async function tlsChannel(port: number, fingerprint: string, localAddress: string, as?: ThrowawayRelay, timeoutMs = 20_000): Promise<Channel> {
  const transport = await BoundTlsTransport.connect(port, localAddress, timeoutMs);
  return Channel.open(transport, {
    expected: { rsaIdentity: fromHex(fingerprint) },
    ...(transport.peerCertificate ? { peerTlsCertificate: transport.peerCertificate } : {}),
    ...(as ? { authenticator: as.authenticator(transport) } : {}),
    timeoutMs,
  });
}

// ---------------------------------------------------------------------------------------------
// Below the link protocol: raw sockets, HTTP upgrades, WebSocket frames
// ---------------------------------------------------------------------------------------------

/** A plain TCP connection from `localAddress`; resolves once connected. */
export function rawConnect(port: number, localAddress: string, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`TCP to ${port} timed out`)); }, timeoutMs);
    // Once connected, a reset by the relay is an answer, not a failure: callers watch 'close'.
    s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); s.on('error', () => s.destroy()); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Resolves when `socket` has closed (or after `ms`, destroying it then). */
export function closed(socket: net.Socket, ms: number): Promise<'closed' | 'timeout'> {
  if (socket.destroyed) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve('timeout'); }, ms);
    socket.once('close', () => { clearTimeout(timer); resolve('closed'); });
  });
}

/** A well-formed WebSocket upgrade request for `path`. */
export function upgradeRequest(port: number, path = '/', extraHeaders: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extraHeaders,
    '',
    '',
  ].join('\r\n');
}

/**
 * A raw WebSocket connection: TCP, the upgrade request, and the 101 answer read; what follows is
 * ours to frame (or to break).
 */
export async function rawWebSocket(port: number, localAddress: string, timeoutMs = 10_000): Promise<net.Socket> {
  const s = await rawConnect(port, localAddress, timeoutMs);
  s.write(upgradeRequest(port));
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no answer to the upgrade request')); }, timeoutMs);
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
      if (/^HTTP\/1\.1 101/.test(head)) resolve();
      else { s.destroy(); reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`)); }
    };
    const onClose = () => { clearTimeout(timer); reject(new Error('closed during the upgrade')); };
    s.on('data', onData);
    s.once('close', onClose);
  });
  // What the server sends from now on is not our business: keep draining it.
  s.on('data', () => {});
  return s;
}

export interface FrameOptions {
  readonly opcode?: number;
  readonly fin?: boolean;
  /** RSV1-3 bits (0-7), which no extension was negotiated for. */
  readonly rsv?: number;
  /** Clients must mask; false sends an unmasked frame. */
  readonly mask?: boolean;
  /** Length to announce instead of the payload's own (a lie). */
  readonly announcedLength?: number;
}

/** One WebSocket frame (RFC 6455 §5.2), well-formed unless the options say otherwise. */
export function wsFrame(payload: Uint8Array, opts: FrameOptions = {}): Uint8Array {
  const opcode = opts.opcode ?? 2;
  const fin = opts.fin ?? true;
  const mask = opts.mask ?? true;
  const len = opts.announcedLength ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const big = BigInt(len);
    for (let i = 7; i >= 0; i--) head.push(Number((big >> BigInt(8 * i)) & 0xffn));
  }
  const key = mask ? Uint8Array.of(0x12, 0x34, 0x56, 0x78) : new Uint8Array(0);
  const body = payload.slice();
  if (mask) for (let i = 0; i < body.length; i++) body[i]! ^= key[i % 4]!;
  const out = new Uint8Array(head.length + key.length + body.length);
  out.set(head, 0);
  out.set(key, head.length);
  out.set(body, head.length + key.length);
  return out;
}

/** Whether the process `pid` still exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // ESRCH: gone. EPERM would mean it exists but is not ours to signal.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
