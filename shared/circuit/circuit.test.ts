import { describe, expect, it } from 'vitest';
import { equalBytes, utf8 } from '../bytes/index.ts';
import { ChanCmd, Create2, Created2, Destroy, DestroyReason, HandshakeType, Relay, decodeChanMsg, RelayCmd, RELAY_DATA_MAX, packRelayCell, unpackRelayCell, Begin, BeginDir, Connected, Data, Drop, End, EndReason, Extend2, Extended2, Sendme, decodeRelayMsg, type ChannelCell, type RelayMsg } from '../cells/index.ts';
import { tor1KeysFrom, generateNtorKeyPair, ntorServerHandshake, secureRandomBytes, RelayHopCrypto, type NtorKeyPair } from '../crypto/index.ts';
import { ChannelError, CircuitError, StreamError, TelescopeError, TimeoutError, UsageError } from '../util/index.ts';
import type { Channel, CircuitEndpoint } from '../channel/index.ts';
import type { TorStream } from '../stream/index.ts';
import { CIRCUIT_WINDOW_INCREMENT, CIRCUIT_WINDOW_START, Circuit, linkSpecifiersFor, type RelayTarget } from './circuit.ts';
import { rejection, settle, track } from '../testing/thrown.ts';

/**
 * Circuits and their streams end to end, against in-memory relays that use the real relay-side
 * crypto (ntorServerHandshake, RelayHopCrypto) behind a fake channel. The fake channel decrypts
 * every cell the client sends, so tests see exactly what a relay would, and originates cells from
 * any hop, so tests can play a well-behaved or a hostile relay.
 */

interface TestRelay extends RelayTarget {
  readonly onionKeys: NtorKeyPair;
}

function testRelay(nickname: string): TestRelay {
  const onionKeys = generateNtorKeyPair();
  return { nickname, rsaIdentity: secureRandomBytes(20), ed25519Identity: secureRandomBytes(32), ntorOnionKey: onionKeys.public, onionKeys, ipv4: { address: Uint8Array.of(10, 0, 0, 1), port: 9001 } };
}

/** A relay cell the client sent, as the hop that recognized it sees it. */
interface Outbound {
  readonly hop: number;
  readonly early: boolean;
  readonly streamId: number;
  readonly msg: RelayMsg;
  /** The hop's running digest after this cell (what a SENDME v1 for it echoes). */
  readonly digest: Uint8Array;
}

const CIRC_ID = 0x80000001;

class InMemoryPath {
  readonly hops: { relay: TestRelay; crypto: RelayHopCrypto }[] = [];
  readonly outbound: Outbound[] = [];
  readonly destroys: number[] = [];
  readonly released: number[] = [];
  /** Set when the client sent something no hop could recognize (a client bug). */
  unrecognized = 0;
  isOpen = true;
  endpoint: CircuitEndpoint | undefined;
  /** How the exit answers BEGIN / BEGIN_DIR (CONNECTED by default); undefined: no answer. */
  answerBegin: ((streamId: number) => RelayMsg | undefined) | undefined = () => new Connected();
  /** Reply to CREATE2 with garbage instead of a valid CREATED2; or not at all. */
  create: 'ok' | 'garbage' | 'silent' = 'ok';

  constructor(readonly relays: readonly TestRelay[]) {}

  get link() {
    return { identity: this.peerIdentity };
  }

  /** The relay the channel leads to, as a real channel proves it in the link handshake. */
  get peerIdentity() {
    return { rsaIdentity: this.relays[0]!.rsaIdentity };
  }

  asChannel(): Channel {
    return this as unknown as Channel;
  }

  registerCircuit(endpoint: CircuitEndpoint): number {
    this.endpoint = endpoint;
    return CIRC_ID;
  }

  releaseCircuit(id: number): void {
    this.released.push(id);
  }

  send(cell: ChannelCell): void {
    if (!this.isOpen) throw new ChannelError('channel closed');
    expect(cell.circId).toBe(CIRC_ID);
    const msg = decodeChanMsg(cell.command, cell.body);
    if (msg instanceof Create2) {
      expect(msg.handshakeType).toBe(HandshakeType.NTOR);
      if (this.create === 'silent') return;
      const first = this.relays[0]!;
      const { reply, keyMaterial } = ntorServerHandshake(msg.handshakeData, { identity: first.rsaIdentity, onionKeys: [first.onionKeys] });
      this.hops.push({ relay: first, crypto: new RelayHopCrypto(tor1KeysFrom(keyMaterial)) });
      const answer = this.create === 'garbage' ? secureRandomBytes(64) : reply;
      queueMicrotask(() => this.deliver({ circId: CIRC_ID, command: ChanCmd.CREATED2, body: new Created2(answer).encode() }));
      return;
    }
    if (msg instanceof Destroy) {
      this.destroys.push(msg.reason);
      return;
    }
    if (!(msg instanceof Relay)) throw new TelescopeError(`relay got an unexpected ${ChanCmd.nameOf(cell.command)}`);
    const body = msg.body.slice();
    const digest = new Uint8Array(20);
    const hop = this.hops.findIndex((h) => h.crypto.decryptOutbound(body, digest));
    if (hop < 0) {
      this.unrecognized++;
      return;
    }
    const { command, streamId, data } = unpackRelayCell(body);
    const rmsg = decodeRelayMsg(command, data);
    this.outbound.push({ hop, early: msg.early, streamId, msg: rmsg, digest });
    if (rmsg instanceof Extend2) {
      expect(msg.early).toBe(true);
      const id = rmsg.linkSpecifiers.find((s) => s.type === 'legacy-id');
      const target = this.relays.find((r) => id?.type === 'legacy-id' && equalBytes(r.rsaIdentity, id.rsaIdentity));
      if (!target) throw new TelescopeError('EXTEND2 to an unknown relay');
      const { reply, keyMaterial } = ntorServerHandshake(rmsg.handshakeData, { identity: target.rsaIdentity, onionKeys: [target.onionKeys] });
      this.hops.push({ relay: target, crypto: new RelayHopCrypto(tor1KeysFrom(keyMaterial)) });
      queueMicrotask(() => this.fromHop(hop, 0, new Extended2(reply)));
    } else if ((rmsg instanceof Begin || rmsg instanceof BeginDir) && this.answerBegin) {
      const answer = this.answerBegin(streamId);
      if (answer) queueMicrotask(() => this.fromHop(hop, streamId, answer));
    }
  }

  deliver(cell: ChannelCell): void {
    this.endpoint!.onCell(cell);
  }

  /** Hop `hop` originates `msg` towards the client; returns the hop's digest for that cell. */
  fromHop(hop: number, streamId: number, msg: RelayMsg, opts: { tamper?: boolean; early?: boolean } = {}): Uint8Array {
    const body = packRelayCell({ command: msg.command, streamId, data: msg.encode() });
    const digest = new Uint8Array(20);
    this.hops[hop]!.crypto.encryptInbound(body, true, digest);
    for (let i = hop - 1; i >= 0; i--) this.hops[i]!.crypto.encryptInbound(body, false);
    if (opts.tamper) body[300]! ^= 0x04;
    this.deliver({ circId: CIRC_ID, command: opts.early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY, body: new Relay(body, opts.early ?? false).encode() });
    return digest;
  }

  /** Outbound cells of one relay command (optionally on one stream). */
  sent(command: number, streamId?: number): Outbound[] {
    return this.outbound.filter((o) => o.msg.command === command && (streamId === undefined || o.streamId === streamId));
  }
}

async function oneHop(): Promise<{ path: InMemoryPath; circ: Circuit }> {
  const path = new InMemoryPath([testRelay('exit')]);
  const circ = await Circuit.create(path.asChannel(), path.relays[0]!);
  return { path, circ };
}

async function threeHops(): Promise<{ path: InMemoryPath; circ: Circuit }> {
  const path = new InMemoryPath([testRelay('guard'), testRelay('middle'), testRelay('exit')]);
  const circ = await Circuit.create(path.asChannel(), path.relays[0]!);
  await circ.extend(path.relays[1]!);
  await circ.extend(path.relays[2]!);
  return { path, circ };
}

const fullCell = (fill = 0) => new Data(new Uint8Array(RELAY_DATA_MAX).fill(fill));

describe('Circuit: building', () => {
  it('CREATE2 with ntor opens a one-hop circuit', async () => {
    const { path, circ } = await oneHop();
    expect(circ.isOpen).toBe(true);
    expect(circ.length).toBe(1);
    expect(circ.circId).toBe(CIRC_ID);
    expect(circ.hops[0]).toBe(path.relays[0]);
    expect(path.hops.length).toBe(1);
    // The keys agree: a DROP to the hop is recognized by it.
    circ.sendDrop(0, 10);
    expect(path.sent(RelayCmd.DROP).length).toBe(1);
    expect(path.unrecognized).toBe(0);
  });

  it('extends with EXTEND2 in RELAY_EARLY, naming the relay by its link specifiers', async () => {
    const { path, circ } = await threeHops();
    expect(circ.length).toBe(3);
    const extends2 = path.sent(RelayCmd.EXTEND2);
    expect(extends2.map((o) => [o.hop, o.early])).toEqual([[0, true], [1, true]]);
    expect((extends2[1]!.msg as Extend2).linkSpecifiers).toEqual(linkSpecifiersFor(path.relays[2]!));
    expect(linkSpecifiersFor(path.relays[2]!).map((s) => s.type)).toEqual(['ipv4', 'legacy-id', 'ed25519-id']);
    // Leaky pipe: each hop can be addressed, and each hop's cells come back.
    circ.sendDrop(1);
    expect(path.outbound.at(-1)!.hop).toBe(1);
    const s = await circ.openStream('example.com', 443);
    const begin = path.sent(RelayCmd.BEGIN)[0]!;
    expect(begin.hop).toBe(2);
    expect((begin.msg as Begin).addrPort).toBe('example.com:443');
    expect(s.hop).toBe(2);
    const dir = await circ.openDirStream();
    expect(path.sent(RelayCmd.BEGIN_DIR)[0]!.hop).toBe(0);
    expect(dir.hop).toBe(0);
    expect(path.unrecognized).toBe(0);
  });

  it('refuses a first hop that is not the relay at the end of the channel', async () => {
    const path = new InMemoryPath([testRelay('a')]);
    await expect(Circuit.create(path.asChannel(), testRelay('b'))).rejects.toBeInstanceOf(UsageError);
  });

  it('a CREATED2 that does not prove the onion key fails the build and destroys the circuit', async () => {
    const path = new InMemoryPath([testRelay('a')]);
    path.create = 'garbage';
    const e = await rejection(Circuit.create(path.asChannel(), path.relays[0]!));
    expect(e).toBeInstanceOf(TelescopeError);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
    expect(path.released).toEqual([CIRC_ID]);
  });

  it('times out without CREATED2 and destroys the circuit', async () => {
    const path = new InMemoryPath([testRelay('a')]);
    path.create = 'silent';
    const e = await rejection(Circuit.create(path.asChannel(), path.relays[0]!, { hopTimeoutMs: 20 }));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(path.destroys).toEqual([DestroyReason.TIMEOUT]);
  });
});

describe('Circuit: streams', () => {
  it('a refused BEGIN gives a StreamError with the END reason', async () => {
    const { path, circ } = await oneHop();
    path.answerBegin = () => new End(EndReason.EXITPOLICY);
    const e = await rejection(circ.openStream('example.com', 25));
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.EXITPOLICY);
    expect(circ.openStreams).toBe(0);
    expect(circ.isOpen).toBe(true);
  });

  it('data flows both ways', async () => {
    const { path, circ } = await threeHops();
    const s = await circ.openStream('example.com', 80);
    await s.write(utf8('GET / HTTP/1.0\r\n\r\n'));
    const data = path.sent(RelayCmd.DATA, s.streamId);
    expect(data.length).toBe(1);
    expect(new TextDecoder().decode((data[0]!.msg as Data).data)).toBe('GET / HTTP/1.0\r\n\r\n');
    path.fromHop(2, s.streamId, new Data(utf8('HTTP/1.0 200 OK\r\n\r\nhi')));
    path.fromHop(2, s.streamId, new End(EndReason.DONE));
    expect(new TextDecoder().decode(await s.readAll())).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
  });

  it('END with a reason gives the reader a StreamError with that reason', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    const r = s.read();
    path.fromHop(0, s.streamId, new End(EndReason.CONNRESET));
    const e = await rejection(r);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.CONNRESET);
    expect(circ.openStreams).toBe(0);
    expect(circ.isOpen).toBe(true);
  });

  it('closing a stream sends END and frees its id', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    expect(circ.openStreams).toBe(1);
    s.close();
    // The opener says nothing about why (proposal 148): MISC, as tor's clients send.
    expect((path.sent(RelayCmd.END, s.streamId)[0]!.msg as End).reason).toBe(EndReason.MISC);
    expect(circ.openStreams).toBe(0);
    // Late cells for it are dropped without harm.
    path.fromHop(0, s.streamId, new Data(utf8('late')));
    expect(circ.isOpen).toBe(true);
  });

  it('a cell for a stream from another hop than the stream\'s destroys the circuit', async () => {
    const { path, circ } = await threeHops();
    const s = await circ.openStream('example.com', 80);
    path.fromHop(1, s.streamId, new Data(utf8('spoofed')));
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
  });
});

describe('Circuit: streams opened by the far end (onion-service rendezvous)', () => {
  it('a BEGIN from the allowed hop reaches the acceptor, which connects it and exchanges data', async () => {
    const { path, circ } = await threeHops();
    const accepted: { stream: TorStream; begin: Begin }[] = [];
    circ.incomingStreams = { hop: 2, accept: (stream, begin) => { accepted.push({ stream, begin }); circ.acceptStream(stream); } };
    path.fromHop(2, 7, new Begin('', 80));
    expect(accepted.length).toBe(1);
    expect(accepted[0]!.begin.port).toBe(80);
    expect(path.sent(RelayCmd.CONNECTED, 7).length).toBe(1);
    const s = accepted[0]!.stream;
    path.fromHop(2, 7, new Data(utf8('GET /')));
    expect(new TextDecoder().decode((await s.read())!)).toBe('GET /');
    await s.write(utf8('200'));
    expect(new TextDecoder().decode((path.sent(RelayCmd.DATA, 7)[0]!.msg as Data).data)).toBe('200');
  });

  it('an acceptor that refuses closes the stream with END and its reason', async () => {
    const { path, circ } = await threeHops();
    circ.incomingStreams = { hop: 2, accept: (stream) => stream.close(EndReason.EXITPOLICY) };
    path.fromHop(2, 9, new Begin('', 25));
    expect((path.sent(RelayCmd.END, 9)[0]!.msg as End).reason).toBe(EndReason.EXITPOLICY);
    expect(circ.openStreams).toBe(0);
    expect(circ.isOpen).toBe(true);
  });

  it('a BEGIN towards a client circuit, or from another hop, destroys the circuit', async () => {
    const plain = await threeHops();
    plain.path.fromHop(2, 5, new Begin('example.com', 80));
    expect(plain.circ.isOpen).toBe(false);
    expect(plain.path.destroys).toEqual([DestroyReason.PROTOCOL]);
    const rend = await threeHops();
    rend.circ.incomingStreams = { hop: 2, accept: () => { throw new Error('must not be called'); } };
    rend.path.fromHop(1, 5, new Begin('', 80));
    expect(rend.circ.isOpen).toBe(false);
  });
});

describe('Circuit: flow control', () => {
  it('a stream\'s write blocks at a package window of 500 cells until a stream SENDME arrives', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    const w = track(s.write(new Uint8Array(RELAY_DATA_MAX * 501)));
    await settle();
    expect(path.sent(RelayCmd.DATA).length).toBe(500);
    expect(w.done()).toBe(false);
    path.fromHop(0, s.streamId, new Sendme());
    await settle();
    expect(path.sent(RelayCmd.DATA).length).toBe(501);
    expect(w.done()).toBe(true);
    expect(w.error()).toBeUndefined();
    expect(circ.isOpen).toBe(true);
  });

  it('the circuit window of 1000 blocks until an authenticated SENDME v1 with the right digest', async () => {
    const { path, circ } = await oneHop();
    const [a, b, c] = [await circ.openStream('a.example', 80), await circ.openStream('b.example', 80), await circ.openStream('c.example', 80)];
    await a!.write(new Uint8Array(RELAY_DATA_MAX * 500));
    await b!.write(new Uint8Array(RELAY_DATA_MAX * 500));
    expect(path.sent(RelayCmd.DATA).length).toBe(CIRCUIT_WINDOW_START);
    const w = track(c!.write(utf8('one more cell')));
    await settle();
    expect(w.done()).toBe(false);
    expect(path.sent(RelayCmd.DATA).length).toBe(1000);
    // The exit acknowledges the 100th DATA cell by echoing its digest.
    const data = path.sent(RelayCmd.DATA);
    path.fromHop(0, 0, Sendme.v1(data[CIRCUIT_WINDOW_INCREMENT - 1]!.digest));
    await settle();
    expect(w.done()).toBe(true);
    expect(path.sent(RelayCmd.DATA).length).toBe(1001);
    expect(circ.isOpen).toBe(true);
    // The next SENDME must acknowledge the 200th cell.
    path.fromHop(0, 0, Sendme.v1(data[2 * CIRCUIT_WINDOW_INCREMENT - 1]!.digest));
    expect(circ.isOpen).toBe(true);
    expect(path.destroys).toEqual([]);
  });

  it('a circuit SENDME with a wrong digest destroys the circuit (PROTOCOL) and fails blocked writers', async () => {
    const { path, circ } = await oneHop();
    const [a, b, c] = [await circ.openStream('a.example', 80), await circ.openStream('b.example', 80), await circ.openStream('c.example', 80)];
    await a!.write(new Uint8Array(RELAY_DATA_MAX * 500));
    await b!.write(new Uint8Array(RELAY_DATA_MAX * 500));
    const w = c!.write(utf8('blocked'));
    await settle();
    let closedWith: CircuitError | undefined;
    circ.onClose((e) => { closedWith = e; });
    // The digest of the 101st cell instead of the 100th.
    path.fromHop(0, 0, Sendme.v1(path.sent(RelayCmd.DATA)[CIRCUIT_WINDOW_INCREMENT]!.digest));
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
    expect(path.released).toContain(CIRC_ID);
    expect(closedWith?.reason).toBe(DestroyReason.PROTOCOL);
    expect(closedWith?.message).toMatch(/wrong digest/);
    expect(await rejection(w)).toBeInstanceOf(StreamError);
    expect(await rejection(a!.read())).toBeInstanceOf(StreamError);
    expect(path.sent(RelayCmd.DATA).length).toBe(1000);
  });

  it('an unauthenticated (v0) circuit SENDME destroys the circuit', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    await s.write(new Uint8Array(RELAY_DATA_MAX * 100));
    path.fromHop(0, 0, new Sendme());
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
  });

  it('a circuit SENDME before 100 DATA cells were sent destroys the circuit', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    await s.write(new Uint8Array(RELAY_DATA_MAX * 99));
    path.fromHop(0, 0, Sendme.v1(path.sent(RelayCmd.DATA).at(-1)!.digest));
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
  });

  it('sends an authenticated circuit SENDME after every 100 DATA cells received', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    const digests: Uint8Array[] = [];
    for (let i = 0; i < 99; i++) digests.push(path.fromHop(0, s.streamId, new Data(utf8(`${i}`))));
    expect(path.sent(RelayCmd.SENDME, 0)).toEqual([]);
    digests.push(path.fromHop(0, s.streamId, new Data(utf8('99'))));
    const sendmes = path.sent(RelayCmd.SENDME, 0);
    expect(sendmes.length).toBe(1);
    const m = sendmes[0]!.msg as Sendme;
    expect(m.version).toBe(1);
    expect(m.digest).toEqual(digests[99]);
    for (let i = 0; i < 100; i++) digests.push(path.fromHop(0, s.streamId, new Data(utf8('x'))));
    expect((path.sent(RelayCmd.SENDME, 0)[1]!.msg as Sendme).digest).toEqual(digests[199]);
    expect(circ.isOpen).toBe(true);
  });

  it('sends a stream SENDME after 50 cells once the reader has read', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    for (let i = 0; i < 50; i++) path.fromHop(0, s.streamId, fullCell(i));
    // 50 full cells unread: the exit must wait.
    expect(path.sent(RelayCmd.SENDME, s.streamId)).toEqual([]);
    expect((await s.read())![0]).toBe(0);
    const sendmes = path.sent(RelayCmd.SENDME, s.streamId);
    expect(sendmes.length).toBe(1);
    expect((sendmes[0]!.msg as Sendme).version).toBe(0);
  });

  it('delivering more than 500 DATA cells to a stream that sent no SENDME closes the circuit', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    for (let i = 0; i < 500; i++) path.fromHop(0, s.streamId, fullCell());
    expect(circ.isOpen).toBe(true);
    expect(path.sent(RelayCmd.SENDME, s.streamId)).toEqual([]);
    // The circuit level kept up (SENDME v1 every 100 cells).
    expect(path.sent(RelayCmd.SENDME, 0).length).toBe(5);
    path.fromHop(0, s.streamId, fullCell());
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
    // What was delivered in time can still be read, then the failure shows.
    let readBytes = 0;
    const e = await rejection((async () => { for (;;) readBytes += (await s.read())!.length; })());
    expect(e).toBeInstanceOf(StreamError);
    expect(readBytes).toBe(500 * RELAY_DATA_MAX);
  });
});

describe('Circuit: teardown', () => {
  it('a tampered inbound cell destroys the circuit and fails its streams', async () => {
    const { path, circ } = await threeHops();
    const s = await circ.openStream('example.com', 80);
    const r = s.read();
    path.fromHop(2, s.streamId, new Data(utf8('tamper me')), { tamper: true });
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
    const e = await rejection(r);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.DESTROY);
    expect(await rejection(circ.openStream('example.com', 80))).toBeInstanceOf(CircuitError);
    expect(() => circ.sendDrop(0)).toThrow(CircuitError);
  });

  it('an inbound RELAY_EARLY cell destroys the circuit', async () => {
    const { path, circ } = await oneHop();
    path.fromHop(0, 0, new Drop(), { early: true });
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
  });

  it('DESTROY from the network fails open streams and pending opens, and is not answered', async () => {
    const { path, circ } = await oneHop();
    const s = await circ.openStream('example.com', 80);
    path.answerBegin = undefined;
    const opening = circ.openStream('example.net', 80);
    await settle();
    const r = s.read();
    let closedWith: CircuitError | undefined;
    circ.onClose((e) => { closedWith = e; });
    path.deliver({ circId: CIRC_ID, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.OR_IDENTITY).encode() });
    expect(circ.isOpen).toBe(false);
    expect(closedWith).toBeInstanceOf(CircuitError);
    expect(closedWith!.reason).toBe(DestroyReason.OR_IDENTITY);
    expect(path.destroys).toEqual([]);
    expect(path.released).toContain(CIRC_ID);
    const e = await rejection(r);
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.DESTROY);
    expect((e as StreamError).cause).toBe(closedWith);
    expect(s.isOpen).toBe(false);
    expect(await rejection(opening)).toBeInstanceOf(StreamError);
    expect(await rejection(s.write(utf8('x')))).toBeInstanceOf(StreamError);
    // Cells after the DESTROY are ignored.
    path.deliver({ circId: CIRC_ID, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.NONE).encode() });
    expect(closedWith!.reason).toBe(DestroyReason.OR_IDENTITY);
  });

  it('a lost channel fails the circuit without sending DESTROY', async () => {
    const { path, circ } = await oneHop();
    const s: TorStream = await circ.openStream('example.com', 80);
    path.isOpen = false;
    circ.onChannelClosed(new ChannelError('TLS connection reset'));
    expect(circ.isOpen).toBe(false);
    expect((await rejection(s.read())) as StreamError).toBeInstanceOf(StreamError);
    circ.destroy();
    expect(path.destroys).toEqual([]);
  });

  it('destroy() sends DESTROY once, with the given reason', async () => {
    const { path, circ } = await oneHop();
    circ.destroy(DestroyReason.FINISHED);
    circ.destroy(DestroyReason.PROTOCOL);
    expect(path.destroys).toEqual([DestroyReason.FINISHED]);
    expect(path.released).toEqual([CIRC_ID]);
  });

  it('unexpected channel cells destroy the circuit', async () => {
    const { path, circ } = await oneHop();
    path.deliver({ circId: CIRC_ID, command: ChanCmd.CREATED2, body: new Created2(new Uint8Array(64)).encode() });
    expect(circ.isOpen).toBe(false);
    expect(path.destroys).toEqual([DestroyReason.PROTOCOL]);
  });
});
