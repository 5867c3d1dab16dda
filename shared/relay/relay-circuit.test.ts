import { describe, expect, it } from 'vitest';
import { equalBytes, fromHex, toHex, utf8 } from '../bytes/index.ts';
import { ChanCmd, CertsCell, Create2, CreateFast, Created2, Destroy, DestroyReason, HandshakeType, Relay, RelayCmd, RELAY_DATA_MAX, packRelayCell, unpackRelayCell, Begin, Connected, Data, Drop, End, EndReason, Extend2, Extended2, Resolve, Resolved, ResolvedType, Sendme, Truncated, decodeRelayMsg, type ChannelCell, type LinkSpecifier, type RelayMsg } from '../cells/index.ts';
import { tor1KeysFrom, NtorClient, generateNtorKeyPair, secureRandomBytes, ClientCircuitCrypto, RsaPublicKey, type NtorKeyPair, type VerifiedInitiatorIdentity } from '../crypto/index.ts';
import { ChannelError, CircuitError, StreamError, TelescopeError, silentLogger, UNEXPECTED_ERROR_MARKER, UnexpectedErrors, unexpectedErrorsIn, type Logger } from '../util/index.ts';
import { Channel, MemoryTransport, type CircuitEndpoint, type LinkAuthenticator } from '../channel/index.ts';
import { Circuit, type RelayTarget } from '../circuit/index.ts';
import type { TorStream } from '../stream/index.ts';
import { RelaySwitch, type RelaySwitchOptions } from './switch.ts';
import { MAX_DIR_STREAMS_PER_CHANNEL, MAX_DIR_STREAMS_PER_CIRCUIT, type ExitOutcome, type RelayCircuitServices } from './relay-circuit.ts';
import { CellQueueMemory } from './queue-memory.ts';
import { DirectoryServer } from './dir-server.ts';
import { parseAuthCerts } from '../netdoc/index.ts';
import { DirectoryState } from '../directory/index.ts';
import td2Consensus from '../netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../netdoc/fixtures/testdata2/cached-certs.txt?raw';
import link from '../cells/fixtures/link.json';
import certsVec from '../crypto/fixtures/certs.json';
import { rejection, track } from '../testing/thrown.ts';

/**
 * The relay core end to end, in memory: a client's Circuit (shared/circuit) talks over real
 * channels (both handshake roles, memory transports that re-cut the bytes) to RelaySwitches,
 * which extend to one another through `services.extend`. Nothing is faked below the channel
 * transport, so every cell goes through the framing, the tor1 crypto and the windows.
 *
 * The first relay presents a real tor relay's CERTS cell (fixtures; checked at a time it was
 * valid), so it has that relay's RSA identity; further relays have random identities (EXTEND2's
 * ntor handshake binds to the identity the client names, not to the link's). Relays extend to one
 * another with a LinkAuthenticator, as tor relays do, so the next relay treats them as relays.
 */

const certsBody = fromHex(link.certs_cell_body_hex);
const certsValidAt = new Date(certsVec.channel_verification_time);
const fixtureIdentity = fromHex(certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der);

/** Relays answer AUTH_CHALLENGE (the bytes do not matter: the verifier below is a stand-in). */
const relayAuthenticator: LinkAuthenticator = {
  certsBody: new CertsCell([{ type: 2, body: Uint8Array.of(1) }]).encode(),
  authenticate: () => ({ authType: 3, body: new Uint8Array(352) }),
};

/**
 * The responder's check of an authenticating relay is the host's (TLS exporter, relay keys;
 * channel-pair.node.test.ts runs the real one). Here every authenticating initiator passes as the
 * fixture relay, so that relays that extend to one another count as relays.
 */
const stubInitiator: VerifiedInitiatorIdentity = {
  rsaIdentity: fixtureIdentity,
  fingerprint: certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der,
  rsaKey: RsaPublicKey.fromPkcs1Der(fromHex(certsVec.derived.rsa_identity_pubkey_pkcs1_der)),
  ed25519Identity: fromHex(certsVec.derived.ed25519_identity),
  authKey: new Uint8Array(32),
};

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function eventually(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

class RecordingLog implements Logger {
  readonly lines: string[] = [];
  debug(m: string): void { this.lines.push(m); }
  info(m: string): void { this.lines.push(m); }
  notice(m: string): void { this.lines.push(m); }
  warn(m: string): void { this.lines.push(m); }
}

/** A channel pair over memory transports; authenticating initiators are accepted as relays. */
async function linkUp(opts: { authenticator?: LinkAuthenticator; seed?: number } = {}): Promise<{ initiator: Channel; responder: Channel; initiatorSide: MemoryTransport; responderSide: MemoryTransport }> {
  const [a, b] = MemoryTransport.pair({ seed: opts.seed ?? 5 });
  const [initiator, responder] = await Promise.all([
    Channel.open(a, { now: () => certsValidAt, ...(opts.authenticator ? { authenticator: opts.authenticator } : {}) }),
    Channel.accept(b, {
      certsBody,
      challenge: secureRandomBytes(32),
      nowSeconds: () => Math.floor(certsValidAt.getTime() / 1000),
      peerAddress: { type: 'ipv4', bytes: new Uint8Array(4) },
      myAddresses: [],
      verifyAuthenticate: () => stubInitiator,
    }),
  ]);
  return { initiator, responder, initiatorSide: a, responderSide: b };
}

type Services = Partial<Omit<RelayCircuitServices, 'closed' | 'log'>>;

class TestRelay {
  readonly onion: NtorKeyPair = generateNtorKeyPair();
  readonly log = new RecordingLog();
  readonly switch: RelaySwitch;
  /** Channels others opened to us (we are the responder on them). */
  readonly accepted: Channel[] = [];
  /** Channels we opened to extend (we are the initiator). */
  readonly opened: Channel[] = [];
  readonly target: RelayTarget;

  constructor(readonly net: TestNet, readonly name: string, readonly identity: Uint8Array, services: Services, options: Partial<RelaySwitchOptions>) {
    this.target = { nickname: name, rsaIdentity: identity, ed25519Identity: secureRandomBytes(32), ntorOnionKey: this.onion.public, ipv4: { address: Uint8Array.of(10, 0, 0, net.relays.length + 1), port: 9001 } };
    this.switch = new RelaySwitch({
      identity,
      onionKeys: () => [this.onion],
      services: {
        log: this.log,
        extend: (specs) => this.net.extendFrom(this, specs),
        // The consensus: every relay of the net (links between them authenticate as relay 1).
        isKnownRelay: (id) => this.net.relays.some((r) => equalBytes(r.identity, id)),
        ...services,
      },
      ...options,
    });
  }

  /** Accept a link and serve circuits on it. */
  serve(channel: Channel): void {
    this.accepted.push(channel);
    this.switch.attach(channel);
  }
}

/** A set of relays that find one another by RSA identity (as the consensus would let them). */
class TestNet {
  readonly relays: TestRelay[] = [];
  extendCalls = 0;

  relay(services: Services = {}, options: Partial<RelaySwitchOptions> = {}): TestRelay {
    // The first relay is the one whose CERTS cell we hold, so a client's link to it verifies.
    const identity = this.relays.length === 0 ? fixtureIdentity : secureRandomBytes(20);
    const r = new TestRelay(this, `relay${this.relays.length + 1}`, identity, services, options);
    this.relays.push(r);
    return r;
  }

  /** Whether relays authenticate the links they open (tor relays do). */
  authenticate = true;

  async extendFrom(from: TestRelay, specs: readonly LinkSpecifier[]): Promise<Channel> {
    this.extendCalls++;
    const id = specs.find((s) => s.type === 'legacy-id');
    if (!id || id.type !== 'legacy-id') throw new TelescopeError('EXTEND2 without an RSA identity');
    const to = this.relays.find((r) => equalBytes(r.identity, id.rsaIdentity));
    if (!to) throw new TelescopeError(`no relay ${toHex(id.rsaIdentity)}`);
    const { initiator, responder } = await linkUp({ ...(this.authenticate ? { authenticator: relayAuthenticator } : {}), seed: this.extendCalls + 10 });
    to.serve(responder);
    from.opened.push(initiator);
    return initiator;
  }

  /** A client's channel to relay `r` (the first relay: its CERTS are the fixture's). */
  async clientChannel(r: TestRelay = this.relays[0]!): Promise<Channel> {
    const { initiator, responder } = await linkUp();
    r.serve(responder);
    return initiator;
  }
}

/** A client circuit built hop by hop through `relays`. */
async function build(net: TestNet, relays: TestRelay[]): Promise<{ circuit: Circuit; channel: Channel }> {
  const channel = await net.clientChannel(relays[0]);
  const circuit = await Circuit.create(channel, relays[0]!.target);
  for (const r of relays.slice(1)) await circuit.extend(r.target);
  return { circuit, channel };
}

/** Bytes that differ from cell to cell (crypto.getRandomValues stops at 64 KiB). */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17 + (i >>> 9)) & 0xff;
  return out;
}

/** An exit that echoes every byte back, then ends when the client does. */
function echoExit(seen: Begin[] = []): (begin: Begin) => Promise<ExitOutcome> {
  return async (begin) => {
    seen.push(begin);
    return {
      ok: true,
      connected: new Connected({ address: Uint8Array.of(192, 0, 2, 1), ttl: 300 }),
      attach: (stream: TorStream) => {
        void (async () => {
          try {
            for (let c = await stream.read(); c; c = await stream.read()) await stream.write(c);
            stream.close();
          } catch (e) {
            if (!(e instanceof TelescopeError)) throw e;
          }
        })();
      },
    };
  };
}

/**
 * A client circuit driven cell by cell (one hop, ntor), for what a well-behaved Circuit never
 * sends: too many RELAY_EARLY cells, garbage, EXTEND2 in a plain RELAY cell, bad SENDMEs.
 */
class RawCircuit implements CircuitEndpoint {
  readonly cells: ChannelCell[] = [];
  readonly crypto = new ClientCircuitCrypto();
  closedWith: TelescopeError | undefined;
  readonly circId: number;

  constructor(readonly channel: Channel) {
    this.circId = channel.registerCircuit(this);
  }

  static async create(channel: Channel, target: RelayTarget): Promise<RawCircuit> {
    const raw = new RawCircuit(channel);
    const hs = NtorClient.start(target.rsaIdentity, target.ntorOnionKey);
    channel.send({ circId: raw.circId, command: ChanCmd.CREATE2, body: new Create2(HandshakeType.NTOR, hs.onionskin).encode() });
    const reply = await raw.next();
    expect(reply.command).toBe(ChanCmd.CREATED2);
    raw.crypto.addHop(tor1KeysFrom(hs.pending.finish(Created2.decode(reply.body).handshakeData)));
    return raw;
  }

  onCell(cell: ChannelCell): void {
    this.cells.push(cell);
  }

  onChannelClosed(error: TelescopeError): void {
    this.closedWith = error;
  }

  /** Send a relay message to hop 0; returns the running digest after it (what SENDME v1 echoes). */
  send(msg: RelayMsg, opts: { streamId?: number; early?: boolean } = {}): Uint8Array {
    const body = packRelayCell({ command: msg.command, streamId: opts.streamId ?? 0, data: msg.encode() });
    const digest = new Uint8Array(20);
    this.crypto.encryptOutbound(body, 0, digest);
    this.channel.send({ circId: this.circId, command: opts.early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY, body: new Relay(body, opts.early).encode() });
    return digest;
  }

  async next(): Promise<ChannelCell> {
    await eventually(() => this.cells.length > 0, 'a cell on the raw circuit');
    return this.cells.shift()!;
  }

  /** The next relay message from the relay (decrypted), with its digest. */
  async nextRelay(): Promise<{ streamId: number; msg: RelayMsg; digest: Uint8Array }> {
    const cell = await this.next();
    if (cell.command !== ChanCmd.RELAY) throw new Error(`expected RELAY, got ${ChanCmd.nameOf(cell.command)}`);
    const body = cell.body.slice();
    const digest = new Uint8Array(20);
    expect(this.crypto.decryptInbound(body, digest)).toBe(0);
    const { command, streamId, data } = unpackRelayCell(body);
    return { streamId, msg: decodeRelayMsg(command, data), digest };
  }

  async expectDestroy(reason: number): Promise<void> {
    const cell = await this.next();
    expect(ChanCmd.nameOf(cell.command)).toBe('DESTROY');
    expect(DestroyReason.nameOf(Destroy.decode(cell.body).reason)).toBe(DestroyReason.nameOf(reason));
  }
}

describe('RelaySwitch: creating circuits', () => {
  it('answers CREATE2 (ntor): a client builds a one-hop circuit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const { circuit } = await build(net, [r1]);
    expect(circuit.length).toBe(1);
    expect(r1.switch.openCircuits).toBe(1);
    expect(r1.switch.created).toBe(1);
    // Padding to the hop is dropped there, the circuit stays up.
    circuit.sendDrop(0, 10);
    await tick(10);
    expect(circuit.isOpen).toBe(true);
    circuit.destroy();
    await eventually(() => r1.switch.openCircuits === 0, 'the relay circuit to close');
  });

  it('answers CREATE_FAST', async () => {
    const net = new TestNet();
    const served: TorStream[] = [];
    const r1 = net.relay({ serveDirectory: (s) => { served.push(s); void s.write(utf8('fast')).then(() => s.close()); } });
    const channel = await net.clientChannel();
    const circuit = await Circuit.createFast(channel);
    expect(circuit.length).toBe(1);
    expect(r1.switch.openCircuits).toBe(1);
    // The keys agree: a directory stream works over it.
    const stream = await circuit.openDirStream();
    expect(new TextDecoder().decode(await stream.readAll())).toBe('fast');
    expect(served.length).toBe(1);
  });

  it('CREATE2 with an onion key the relay does not hold gets DESTROY', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const e = await rejection(Circuit.create(channel, { ...r1.target, ntorOnionKey: generateNtorKeyPair().public }));
    expect(e).toBeInstanceOf(CircuitError);
    expect((e as CircuitError).reason).toBe(DestroyReason.PROTOCOL);
    expect(r1.switch.openCircuits).toBe(0);
    expect(r1.log.lines.some((l) => l.includes('onion key'))).toBe(true);
    // The channel survives: a correct CREATE2 on it works.
    await Circuit.create(channel, r1.target);
    expect(r1.switch.openCircuits).toBe(1);
  });

  it('refuses CREATE2 of another handshake type and TAP CREATE; closes the link at a circuit id with the wrong high bit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const cases: { circId: number; command: number; body: Uint8Array }[] = [
      { circId: 0, command: ChanCmd.CREATE2, body: new Create2(HandshakeType.NTOR_V3, new Uint8Array(100)).encode() },
      { circId: 0, command: ChanCmd.CREATE, body: new Uint8Array(509) },
      { circId: 0, command: ChanCmd.CREATE2, body: Uint8Array.of(0, 2, 0, 200) }, // truncated handshake data
    ];
    for (const c of cases) {
      const raw = new RawCircuit(channel);
      channel.send({ ...c, circId: raw.circId });
      await raw.expectDestroy(DestroyReason.PROTOCOL);
    }
    // A client (the initiator) must set the high bit: one that does not breaks the link protocol,
    // and loses the link (switch.test.ts).
    const wrongBit = new RawCircuit(channel);
    channel.releaseCircuit(wrongBit.circId);
    const low = wrongBit.circId & 0x7fffffff;
    channel.adoptCircuit(low, wrongBit);
    channel.send({ circId: low, command: ChanCmd.CREATE_FAST, body: new CreateFast(new Uint8Array(20)).encode() });
    await eventually(() => !channel.isOpen, 'the relay to close the link');
    expect(r1.switch.openCircuits).toBe(0);
    expect(r1.log.lines.some((l) => l.includes('high bit'))).toBe(true);
  });

  it('limits CREATE cells per second per channel: DESTROY RESOURCELIMIT beyond the burst', async () => {
    const net = new TestNet();
    let t = 1_000_000;
    const r1 = net.relay({}, { createRate: 1, now: () => t });
    const channel = await net.clientChannel();
    // Burst is twice the rate: two circuits at once, then refusal.
    await Circuit.create(channel, r1.target);
    await Circuit.create(channel, r1.target);
    const e = await rejection(Circuit.create(channel, r1.target));
    expect(e).toBeInstanceOf(CircuitError);
    expect((e as CircuitError).reason).toBe(DestroyReason.RESOURCELIMIT);
    // Another channel has its own bucket.
    const other = await net.clientChannel();
    await Circuit.create(other, r1.target);
    // A second later the first channel may create one more.
    t += 1000;
    await Circuit.create(channel, r1.target);
    expect(r1.switch.openCircuits).toBe(4);
  });

  it('maxCircuits: DESTROY RESOURCELIMIT while the relay is full', async () => {
    const net = new TestNet();
    const r1 = net.relay({}, { maxCircuits: 1 });
    const channel = await net.clientChannel();
    const first = await Circuit.create(channel, r1.target);
    const e = await rejection(Circuit.create(channel, r1.target));
    expect((e as CircuitError).reason).toBe(DestroyReason.RESOURCELIMIT);
    first.destroy();
    await eventually(() => r1.switch.openCircuits === 0, 'the first circuit to go');
    await Circuit.create(channel, r1.target);
  });

  it('closeAll destroys every circuit with HIBERNATING', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const { circuit } = await build(net, [r1]);
    const closed = new Promise<CircuitError>((resolve) => circuit.onClose(resolve));
    r1.switch.closeAll();
    expect(r1.switch.openCircuits).toBe(0);
    expect((await closed).reason).toBe(DestroyReason.HIBERNATING);
  });
});

describe('RelayCircuit: extending', () => {
  it('builds 2- and 3-hop circuits through switches that extend to one another', async () => {
    const net = new TestNet();
    const [r1, r2, r3] = [net.relay(), net.relay(), net.relay({ openExit: echoExit() })];
    const { circuit } = await build(net, [r1, r2]);
    expect(circuit.length).toBe(2);
    expect(r1.switch.openCircuits).toBe(1);
    expect(r2.switch.openCircuits).toBe(1);
    await circuit.extend(r3.target);
    expect(circuit.length).toBe(3);
    expect(r3.switch.openCircuits).toBe(1);
    // The middle relays saw authenticated links from the relays before them.
    expect(r2.accepted[0]!.link).toEqual({ linkVersion: 5, initiator: stubInitiator });
    expect(r1.opened[0]!.role).toBe('initiator');
    // Data goes end to end through every layer.
    const stream = await circuit.openStream('example.com', 80);
    const message = secureRandomBytes(3000);
    await stream.write(message);
    const echoed: Uint8Array[] = [];
    let got = 0;
    while (got < message.length) {
      const c = (await stream.read())!;
      echoed.push(c);
      got += c.length;
    }
    expect(toHex(echoed.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array(0)))).toBe(toHex(message));
    stream.close();
  });

  it('an extend the host refuses gives TRUNCATED(CONNECTFAILED); the client then gives the circuit up', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const { circuit } = await build(net, [r1]);
    const nowhere: RelayTarget = { ...r2.target, rsaIdentity: secureRandomBytes(20) };
    const e = await rejection(circuit.extend(nowhere));
    expect(e).toBeInstanceOf(CircuitError);
    expect((e as CircuitError).reason).toBe(DestroyReason.CONNECTFAILED);
    expect(r1.log.lines.some((l) => l.includes('cannot extend'))).toBe(true);
    // As tor does, a client closes a circuit whose extension failed.
    expect(circuit.isOpen).toBe(false);
    await eventually(() => r1.switch.openCircuits === 0, 'the relay circuit to go');
  });

  it('after TRUNCATED(CONNECTFAILED) the relay circuit stays usable: a second EXTEND2 works', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    const nowhere = secureRandomBytes(20);
    raw.send(new Extend2([{ type: 'legacy-id', rsaIdentity: nowhere }], HandshakeType.NTOR, NtorClient.start(nowhere, r2.onion.public).onionskin), { early: true });
    const truncated = await raw.nextRelay();
    expect(truncated.msg).toBeInstanceOf(Truncated);
    expect((truncated.msg as Truncated).reason).toBe(DestroyReason.CONNECTFAILED);
    expect(r1.switch.openCircuits).toBe(1);
    const hs = NtorClient.start(r2.identity, r2.onion.public);
    raw.send(new Extend2([{ type: 'legacy-id', rsaIdentity: r2.identity }], HandshakeType.NTOR, hs.onionskin), { early: true });
    const extended = await raw.nextRelay();
    expect(extended.msg).toBeInstanceOf(Extended2);
    // The reply is a valid ntor answer from r2.
    expect(hs.pending.finish((extended.msg as Extended2).handshakeData).length).toBeGreaterThan(0);
    expect(r2.switch.openCircuits).toBe(1);
  });

  it('EXTEND2 with the wrong onion key: the next relay destroys, the client gets TRUNCATED(PROTOCOL)', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const { circuit } = await build(net, [r1]);
    const e = await rejection(circuit.extend({ ...r2.target, ntorOnionKey: generateNtorKeyPair().public }));
    expect(e).toBeInstanceOf(CircuitError);
    expect((e as CircuitError).reason).toBe(DestroyReason.PROTOCOL);
    expect(r2.switch.openCircuits).toBe(0);
    expect(r2.log.lines.some((l) => l.includes('onion key'))).toBe(true);
  });

  it('TRUNCATE gives TRUNCATED(REQUESTED) and DESTROY to the next hop', async () => {
    const net = new TestNet();
    const [r1, r2, r3] = [net.relay(), net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2, r3]);
    expect(await circuit.truncate(2)).toBe(DestroyReason.REQUESTED);
    expect(circuit.length).toBe(2);
    await eventually(() => r3.switch.openCircuits === 0, 'the third hop to be destroyed');
    expect(r2.switch.openCircuits).toBe(1);
    // Extend again, then cut back to the first hop: the second hop's destruction reaches the third.
    await circuit.extend(r3.target);
    expect(r3.switch.openCircuits).toBe(1);
    expect(await circuit.truncate(1)).toBe(DestroyReason.REQUESTED);
    expect(circuit.length).toBe(1);
    await eventually(() => r2.switch.openCircuits === 0 && r3.switch.openCircuits === 0, 'hops 2 and 3 to be destroyed');
    expect(r1.switch.openCircuits).toBe(1);
  });

  it('DESTROY from the client tears down every hop', async () => {
    const net = new TestNet();
    const [r1, r2, r3] = [net.relay(), net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2, r3]);
    circuit.destroy();
    await eventually(() => [r1, r2, r3].every((r) => r.switch.openCircuits === 0), 'every hop to go');
  });

  it('the client\'s channel closing tears down every hop', async () => {
    const net = new TestNet();
    const [r1, r2, r3] = [net.relay(), net.relay(), net.relay()];
    const { channel } = await build(net, [r1, r2, r3]);
    channel.close();
    await eventually(() => [r1, r2, r3].every((r) => r.switch.openCircuits === 0), 'every hop to go');
  });

  it('the next hop\'s channel closing gives the client TRUNCATED(CHANNEL_CLOSED)', async () => {
    const net = new TestNet();
    const [r1, r2, r3] = [net.relay(), net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2, r3]);
    r2.opened[0]!.close();
    await eventually(() => circuit.length === 2, 'the circuit to shrink to two hops');
    expect(circuit.isOpen).toBe(true);
    await eventually(() => r3.switch.openCircuits === 0, 'the third hop to go');
    // The rest of the circuit still works: extend again.
    await circuit.extend(r3.target);
    expect(circuit.length).toBe(3);
  });

  it('EXTEND2 outside RELAY_EARLY, or a second EXTEND2, destroys the circuit', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const channel = await net.clientChannel();
    const plain = await RawCircuit.create(channel, r1.target);
    plain.send(new Extend2([{ type: 'legacy-id', rsaIdentity: r2.identity }], HandshakeType.NTOR, NtorClient.start(r2.identity, r2.onion.public).onionskin));
    await plain.expectDestroy(DestroyReason.PROTOCOL);
    expect(net.extendCalls).toBe(0);

    const twice = await RawCircuit.create(channel, r1.target);
    const extend2 = () => new Extend2([{ type: 'legacy-id', rsaIdentity: r2.identity }], HandshakeType.NTOR, NtorClient.start(r2.identity, r2.onion.public).onionskin);
    twice.send(extend2(), { early: true });
    twice.send(extend2(), { early: true });
    // The second one arrives while the first is under way: the circuit goes, and so does the new hop.
    await twice.expectDestroy(DestroyReason.PROTOCOL);
    await eventually(() => r1.switch.openCircuits === 0 && r2.switch.openCircuits === 0, 'both hops to go');
  });
});

describe('RelayCircuit: protocol violations cost the circuit', () => {
  it('more than 8 RELAY_EARLY cells destroy the circuit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    for (let i = 0; i < 8; i++) raw.send(new Drop(), { early: true });
    await tick(20);
    expect(raw.cells).toEqual([]);
    expect(r1.switch.openCircuits).toBe(1);
    raw.send(new Drop(), { early: true });
    await raw.expectDestroy(DestroyReason.PROTOCOL);
    expect(r1.switch.openCircuits).toBe(0);
    expect(r1.log.lines.some((l) => l.includes('RELAY_EARLY'))).toBe(true);
  });

  it('a cell this relay cannot recognize, with no next hop, destroys the circuit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    channel.send({ circId: raw.circId, command: ChanCmd.RELAY, body: secureRandomBytes(509) });
    await raw.expectDestroy(DestroyReason.PROTOCOL);
    expect(r1.switch.openCircuits).toBe(0);
  });

  it('an unexpected cell (CREATED2) from the previous hop destroys the circuit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    channel.send({ circId: raw.circId, command: ChanCmd.CREATED2, body: new Created2(new Uint8Array(64)).encode() });
    await raw.expectDestroy(DestroyReason.PROTOCOL);
  });

  it('a circuit SENDME for data never sent destroys the circuit', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    raw.send(Sendme.v1(secureRandomBytes(20)));
    await raw.expectDestroy(DestroyReason.PROTOCOL);
  });

  it('a DESTROY from the client is not answered', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    channel.send({ circId: raw.circId, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.FINISHED).encode() });
    await eventually(() => r1.switch.openCircuits === 0, 'the circuit to go');
    await tick(20);
    expect(raw.cells).toEqual([]);
  });
});

describe('RelayCircuit: streams', () => {
  it('BEGIN on a one-hop circuit from a client is refused with END TORPROTOCOL', async () => {
    const net = new TestNet();
    let exitCalls = 0;
    const r1 = net.relay({ openExit: async (b) => { exitCalls++; return echoExit()(b); } });
    const { circuit } = await build(net, [r1]);
    const e = await rejection(circuit.openStream('example.com', 80));
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.TORPROTOCOL);
    expect(exitCalls).toBe(0);
    expect(circuit.isOpen).toBe(true);
  });

  it('BEGIN at a relay without openExit gets END EXITPOLICY', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2]);
    const e = await rejection(circuit.openStream('example.com', 443));
    expect((e as StreamError).reason).toBe(EndReason.EXITPOLICY);
    // Leaky pipe: the middle hop is no exit either, but it refuses as a relay would.
    const e1 = await rejection(circuit.openStream('example.com', 443, { hop: 0 }));
    expect((e1 as StreamError).reason).toBe(EndReason.TORPROTOCOL);
  });

  it('BEGIN from a previous hop that did not authenticate as a relay is refused like a client\'s (END TORPROTOCOL)', async () => {
    const net = new TestNet();
    net.authenticate = false;
    let exitCalls = 0;
    const [r1, r2] = [net.relay(), net.relay({ openExit: async (b) => { exitCalls++; return echoExit()(b); } })];
    const { circuit } = await build(net, [r1, r2]);
    expect(r2.accepted[0]!.link).toEqual({ linkVersion: 5, initiator: undefined });
    const e = await rejection(circuit.openStream('example.com', 80));
    expect((e as StreamError).reason).toBe(EndReason.TORPROTOCOL);
    expect(exitCalls).toBe(0);
    // The circuit itself stays up.
    expect(circuit.isOpen && r2.switch.openCircuits === 1).toBe(true);
  });

  it('an exit that accepts gets the stream through attach(); the BEGIN reaches it as sent', async () => {
    const net = new TestNet();
    const begins: Begin[] = [];
    const [r1, r2] = [net.relay(), net.relay({ openExit: echoExit(begins) })];
    const { circuit } = await build(net, [r1, r2]);
    const stream = await circuit.openStream('example.org', 8080, { flags: 1 });
    expect(begins.map((b) => [b.host, b.port, b.flags])).toEqual([['example.org', 8080, 1]]);
    await stream.write(utf8('ping'));
    expect(new TextDecoder().decode((await stream.read())!)).toBe('ping');
    stream.close();
  });

  it('an exit that refuses, or fails, ends the stream with its reason (MISC for a failure)', async () => {
    const net = new TestNet();
    let mode: 'refuse' | 'throw' = 'refuse';
    const [r1, r2] = [net.relay(), net.relay({
      openExit: async () => {
        if (mode === 'throw') throw new TelescopeError('socket exploded');
        return { ok: false, end: new End(EndReason.CONNECTREFUSED) };
      },
    })];
    const { circuit } = await build(net, [r1, r2]);
    const refused = await rejection(circuit.openStream('example.com', 80));
    expect((refused as StreamError).reason).toBe(EndReason.CONNECTREFUSED);
    mode = 'throw';
    const failed = await rejection(circuit.openStream('example.com', 80));
    expect((failed as StreamError).reason).toBe(EndReason.MISC);
    expect(circuit.isOpen).toBe(true);
  });

  it('an exit that answers after the circuit died still gets attach() with a failed stream', async () => {
    const net = new TestNet();
    let release!: () => void;
    const attached: TorStream[] = [];
    const [r1, r2] = [net.relay(), net.relay({
      openExit: async () => {
        await new Promise<void>((resolve) => { release = resolve; });
        return { ok: true, connected: new Connected(), attach: (s) => attached.push(s) };
      },
    })];
    const { circuit } = await build(net, [r1, r2]);
    const opening = rejection(circuit.openStream('example.com', 80));
    await eventually(() => release !== undefined, 'the exit to be asked');
    circuit.destroy();
    await eventually(() => r2.switch.openCircuits === 0, 'the exit circuit to go');
    release();
    await eventually(() => attached.length === 1, 'attach');
    expect(attached[0]!.isOpen).toBe(false);
    expect(await opening).toBeInstanceOf(StreamError);
  });

  it('BEGIN_DIR goes to serveDirectory, also on a one-hop circuit; without it: END NOTDIRECTORY', async () => {
    const net = new TestNet();
    const r1 = net.relay({
      serveDirectory: (s) => {
        void (async () => {
          const req = new TextDecoder().decode((await s.read())!);
          await s.write(utf8(`you asked: ${req}`));
          s.close();
        })();
      },
    });
    const r2 = net.relay();
    const { circuit } = await build(net, [r1, r2]);
    const dir = await circuit.openDirStream();
    await dir.write(utf8('GET /'));
    expect(new TextDecoder().decode(await dir.readAll())).toBe('you asked: GET /');
    const e = await rejection(circuit.openDirStream({ hop: 1 }));
    expect((e as StreamError).reason).toBe(EndReason.NOTDIRECTORY);
  });

  it('a directory cache on BEGIN_DIR: a client fetches the consensus, deflated, over a one-hop circuit', async () => {
    const net = new TestNet();
    const now = new Date('2000-01-01T00:02:30Z');
    const dir = new DirectoryState(parseAuthCerts(td2Certs).map((c) => ({ fingerprint: c.unchecked.fingerprint })));
    dir.addCerts(td2Certs, now);
    expect(dir.addConsensus(td2Consensus, now)).toBe('accepted');
    const r1 = net.relay({
      serveDirectory: (s) => void new DirectoryServer({ directory: () => dir, ownDescriptor: () => undefined, fingerprint: 'F'.repeat(40) }, net.relays[0]!.log).serve(s),
    });
    const { circuit } = await build(net, [r1]);
    const fetch = async (path: string, headers = '') => {
      const s = await circuit.openDirStream();
      await s.write(utf8(`GET ${path} HTTP/1.0\r\nHost: relay\r\n${headers}\r\n`));
      const raw = await s.readAll();
      const text = new TextDecoder('latin1').decode(raw);
      const end = text.indexOf('\r\n\r\n');
      return { head: text.slice(0, end), body: raw.subarray(end + 4) };
    };
    const plain = await fetch('/tor/status-vote/current/consensus-microdesc');
    expect(plain.head).toMatch(/^HTTP\/1\.0 200 /);
    expect(new TextDecoder().decode(plain.body)).toBe(td2Consensus);
    const z = await fetch('/tor/status-vote/current/consensus-microdesc.z');
    expect(z.head).toContain('Content-Encoding: deflate');
    const inflated = new Blob([z.body.slice()]).stream().pipeThrough(new DecompressionStream('deflate'));
    expect(await new Response(inflated).text()).toBe(td2Consensus);
    expect((await fetch('/tor/server/authority')).head).toMatch(/^HTTP\/1\.0 404 /);
    expect(circuit.isOpen).toBe(true);
  });

  it('RESOLVE goes to services.resolve; without it: END EXITPOLICY', async () => {
    const net = new TestNet();
    const asked: string[] = [];
    const [r1, r2] = [net.relay(), net.relay({
      resolve: async (msg: Resolve) => {
        asked.push(msg.hostname);
        return new Resolved([{ type: ResolvedType.IPV4, value: Uint8Array.of(192, 0, 2, 7), ttl: 60 }]);
      },
    })];
    const { circuit } = await build(net, [r1, r2]);
    const answer = await circuit.resolve('example.com');
    expect(answer.describe()).toEqual(['192.0.2.7']);
    expect(asked).toEqual(['example.com']);
    // The middle hop is no resolver: END EXITPOLICY (from a relay it knows).
    const r3 = net.relay();
    const { circuit: c2 } = await build(net, [r1, r3, r2]);
    const e = await rejection(c2.resolve('example.com', { hop: 1 }));
    expect((e as StreamError).reason).toBe(EndReason.EXITPOLICY);
  });

  it('a resolver that fails answers END RESOLVEFAILED; the circuit and the relay carry on', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay({ resolve: async () => { throw new TelescopeError('resolver is down'); } })];
    const { circuit } = await build(net, [r1, r2]);
    const e = await rejection(circuit.resolve('example.com', { timeoutMs: 2000 }));
    expect(e).toBeInstanceOf(StreamError);
    expect((e as StreamError).reason).toBe(EndReason.RESOLVEFAILED);
    expect(circuit.isOpen).toBe(true);
    expect(r2.log.lines.some((l) => l.includes('resolver is down'))).toBe(true);
  });

  it('destroying the circuit fails the exit\'s streams', async () => {
    const net = new TestNet();
    const attached: TorStream[] = [];
    const [r1, r2] = [net.relay(), net.relay({ openExit: async () => ({ ok: true, connected: new Connected(), attach: (s) => attached.push(s) }) })];
    const { circuit } = await build(net, [r1, r2]);
    await circuit.openStream('example.com', 80);
    expect(attached.length).toBe(1);
    const reading = attached[0]!.read();
    circuit.destroy();
    await expect(reading).rejects.toBeInstanceOf(StreamError);
  });
});

describe('RelayCircuit: flow control', () => {
  it('sends an authenticated SENDME (v1) after every 100 DATA cells from the client', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const channel = await net.clientChannel();
    const raw = await RawCircuit.create(channel, r1.target);
    // DATA for a stream the relay does not know still counts against the circuit window.
    const digests: Uint8Array[] = [];
    for (let i = 0; i < 99; i++) digests.push(raw.send(new Data(new Uint8Array(10)), { streamId: 1 }));
    await tick(20);
    expect(raw.cells).toEqual([]);
    digests.push(raw.send(new Data(new Uint8Array(10)), { streamId: 1 }));
    const first = await raw.nextRelay();
    expect(first.streamId).toBe(0);
    expect(first.msg).toBeInstanceOf(Sendme);
    expect((first.msg as Sendme).version).toBe(1);
    expect(toHex((first.msg as Sendme).digest!)).toBe(toHex(digests[99]!));
    for (let i = 0; i < 100; i++) digests.push(raw.send(new Data(new Uint8Array(10)), { streamId: 1 }));
    const second = await raw.nextRelay();
    expect(toHex((second.msg as Sendme).digest!)).toBe(toHex(digests[199]!));
    expect(r1.switch.openCircuits).toBe(1);
  });

  it('moves more than the circuit and stream windows both ways (SENDMEs flow and verify)', async () => {
    const net = new TestNet();
    const total = 1300 * RELAY_DATA_MAX; // 1300 cells: past the 1000-cell circuit window and 500-cell stream window
    const upload = pattern(total, 1);
    const download = pattern(total, 2);
    let received = 0;
    let uploadOk = true;
    const [r1, r2] = [net.relay(), net.relay({
      openExit: async () => ({
        ok: true,
        connected: new Connected(),
        attach: (s) => {
          void (async () => {
            const writing = s.write(download);
            for (let c = await s.read(); c; c = await s.read()) {
              if (toHex(c) !== toHex(upload.subarray(received, received + c.length))) uploadOk = false;
              received += c.length;
              if (received === total) break;
            }
            await writing;
            s.close();
          })();
        },
      }),
    })];
    const { circuit } = await build(net, [r1, r2]);
    const stream = await circuit.openStream('bulk.example', 80);
    const [, got] = await Promise.all([stream.write(upload), stream.readAll()]);
    expect(received).toBe(total);
    expect(uploadOk).toBe(true);
    expect(got.length).toBe(total);
    expect(toHex(got.subarray(0, 64))).toBe(toHex(download.subarray(0, 64)));
    expect(equalBytes(got, download)).toBe(true);
    expect(circuit.isOpen).toBe(true);
    expect(r1.switch.openCircuits + r2.switch.openCircuits).toBe(2);
  }, 60_000);
});

describe('RelaySwitch with a channel that dies', () => {
  it('a closed channel is not used: circuits on it close, the client sees ChannelError', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const { circuit } = await build(net, [r1]);
    const closed = new Promise<CircuitError>((resolve) => circuit.onClose(resolve));
    r1.accepted[0]!.close();
    const e = await closed;
    expect(e.reason).toBe(DestroyReason.CHANNEL_CLOSED);
    expect(e.cause).toBeInstanceOf(ChannelError);
    await eventually(() => r1.switch.openCircuits === 0, 'the relay circuit to go');
  });
});

describe('RelayCircuit: an unexpected error costs only its circuit or stream, and is counted', () => {
  /** A relay whose unexpected errors go to a counter the test reads. */
  function counted(net: TestNet, services: Services = {}): { relay: TestRelay; unexpected: UnexpectedErrors } {
    const log = new RecordingLog();
    const unexpected = new UnexpectedErrors(log);
    const relay = net.relay({ ...services, unexpected });
    return { relay, unexpected };
  }

  it('an exit that throws a TypeError: END MISC on that stream, the circuit carries on, counted once', async () => {
    const net = new TestNet();
    let mode: 'bug' | 'echo' = 'bug';
    const r1 = net.relay();
    const { relay: r2, unexpected } = counted(net, {
      openExit: async (b) => {
        if (mode === 'bug') throw new TypeError("Cannot read properties of undefined (reading 'port')");
        return echoExit()(b);
      },
    });
    const { circuit } = await build(net, [r1, r2]);
    const e = await rejection(circuit.openStream('example.com', 80));
    expect((e as StreamError).reason).toBe(EndReason.MISC);
    expect(unexpected.count).toBe(1);
    mode = 'echo';
    const s = await circuit.openStream('example.com', 80);
    await s.write(utf8('still here'));
    expect(new TextDecoder().decode((await s.read())!)).toBe('still here');
    expect(r2.switch.openCircuits).toBe(1);
  });

  it('an attach() that throws ends that stream only', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const { relay: r2, unexpected } = counted(net, {
      openExit: async () => ({ ok: true, connected: new Connected(), attach: () => { throw new RangeError('bad socket state'); } }),
    });
    const { circuit } = await build(net, [r1, r2]);
    const stream = await circuit.openStream('example.com', 80);
    const e = await rejection(stream.read());
    expect((e as StreamError).reason).toBe(EndReason.MISC);
    expect(unexpected.count).toBe(1);
    expect(circuit.isOpen).toBe(true);
  });

  it('a resolver that throws a TypeError: END MISC, counted; the circuit carries on', async () => {
    const net = new TestNet();
    const r1 = net.relay();
    const { relay: r2, unexpected } = counted(net, { resolve: async () => { throw new TypeError('x is not a function'); } });
    const { circuit } = await build(net, [r1, r2]);
    const e = await rejection(circuit.resolve('example.com', { timeoutMs: 2000 }));
    expect((e as StreamError).reason).toBe(EndReason.MISC);
    expect(unexpected.count).toBe(1);
    expect(circuit.isOpen).toBe(true);
  });

  it('an extend that throws a TypeError destroys that circuit (INTERNAL), not the relay\'s others', async () => {
    const net = new TestNet();
    const { relay: r1, unexpected } = counted(net, { extend: async () => { throw new TypeError('undefined is not iterable'); } });
    const r2 = net.relay();
    const other = await build(net, [r1]);
    const { circuit } = await build(net, [r1]);
    const closed = new Promise<CircuitError>((resolve) => circuit.onClose(resolve));
    const extending = rejection(circuit.extend(r2.target));
    expect((await closed).reason).toBe(DestroyReason.INTERNAL);
    expect(await extending).toBeInstanceOf(TelescopeError);
    expect(unexpected.count).toBe(1);
    expect(other.circuit.isOpen).toBe(true);
    await eventually(() => r1.switch.openCircuits === 1, 'only the failed circuit to go');
  });

  it('a directory service that throws synchronously destroys that circuit (INTERNAL); the channel stays', async () => {
    const net = new TestNet();
    const { relay: r1, unexpected } = counted(net, { serveDirectory: () => { throw new TypeError('boom'); } });
    const { circuit, channel } = await build(net, [r1]);
    const closed = new Promise<CircuitError>((resolve) => circuit.onClose(resolve));
    const opening = rejection(circuit.openDirStream());
    expect((await closed).reason).toBe(DestroyReason.INTERNAL);
    expect(await opening).toBeInstanceOf(TelescopeError);
    expect(unexpected.count).toBe(1);
    expect(channel.isOpen).toBe(true);
  });

  it('the log line carries the marker, the place and the running count', async () => {
    const log = new RecordingLog();
    const unexpected = new UnexpectedErrors(log);
    unexpected.record('relay circuit 1: exit stream 3', new TypeError('oops'));
    expect(log.lines[0]).toMatch(new RegExp(`^${UNEXPECTED_ERROR_MARKER} caught in relay circuit 1: exit stream 3 \\(unexpected errors caught: 1\\): TypeError: oops`));
    expect(unexpectedErrorsIn(`x\n${unexpected.summary()}\n`)).toBe(1);
  });
});

describe('RelayCircuit: directory streams are capped per circuit and per channel', () => {
  /** A directory service that holds every stream open until the test releases it. */
  function holdingDirectory(): { held: TorStream[]; serveDirectory: (s: TorStream) => void } {
    const held: TorStream[] = [];
    return { held, serveDirectory: (s) => { held.push(s); } };
  }

  it(`BEGIN_DIR beyond ${MAX_DIR_STREAMS_PER_CIRCUIT} open on one circuit gets END RESOURCELIMIT; a finished one makes room`, async () => {
    const net = new TestNet();
    const dir = holdingDirectory();
    const r1 = net.relay({ serveDirectory: dir.serveDirectory });
    const { circuit } = await build(net, [r1]);
    const streams = await Promise.all(Array.from({ length: MAX_DIR_STREAMS_PER_CIRCUIT }, () => circuit.openDirStream()));
    expect(streams.length).toBe(MAX_DIR_STREAMS_PER_CIRCUIT);
    const refused = await rejection(circuit.openDirStream());
    expect(refused).toBeInstanceOf(StreamError);
    expect((refused as StreamError).reason).toBe(EndReason.RESOURCELIMIT);
    expect(circuit.isOpen).toBe(true);
    dir.held[0]!.close();
    await eventually(() => !streams[0]!.isOpen, 'the END to reach the client');
    const again = await circuit.openDirStream();
    expect(again.isOpen).toBe(true);
    expect(dir.held.length).toBe(MAX_DIR_STREAMS_PER_CIRCUIT + 1);
  });

  it(`at most ${MAX_DIR_STREAMS_PER_CHANNEL} over all circuits of one channel; another client's channel is not affected`, async () => {
    const net = new TestNet();
    const dir = holdingDirectory();
    const r1 = net.relay({ serveDirectory: dir.serveDirectory });
    const channel = await net.clientChannel(r1);
    const circuits = await Promise.all([0, 1, 2].map(() => Circuit.create(channel, r1.target)));
    const perCircuit = MAX_DIR_STREAMS_PER_CHANNEL / 2;
    for (const c of circuits.slice(0, 2)) await Promise.all(Array.from({ length: perCircuit }, () => c.openDirStream()));
    const refused = await rejection(circuits[2]!.openDirStream());
    expect((refused as StreamError).reason).toBe(EndReason.RESOURCELIMIT);
    // Another client, on its own channel, still gets directory streams.
    const other = await build(net, [r1]);
    expect((await other.circuit.openDirStream()).isOpen).toBe(true);
    // Destroying a circuit gives its directory streams back to the channel.
    circuits[0]!.destroy();
    await eventually(() => dir.held.filter((s) => s.isOpen).length === perCircuit + 1, 'the relay to close the destroyed circuit\'s streams');
    expect((await circuits[2]!.openDirStream()).isOpen).toBe(true);
  });
});

describe('RelayCircuit: no one-hop exit (BEGIN and RESOLVE only from relays in the consensus)', () => {
  it('RESOLVE on the first hop of a client\'s circuit gets END TORPROTOCOL; the resolver is never asked', async () => {
    const net = new TestNet();
    const asked: string[] = [];
    const r1 = net.relay({
      resolve: async (msg: Resolve) => {
        asked.push(msg.hostname);
        return new Resolved([{ type: ResolvedType.IPV4, value: Uint8Array.of(127, 0, 0, 1), ttl: 60 }]);
      },
    });
    const { circuit } = await build(net, [r1]);
    const e = await rejection(circuit.resolve('localhost', { timeoutMs: 2000 }));
    expect((e as StreamError).reason).toBe(EndReason.TORPROTOCOL);
    expect(asked).toEqual([]);
    expect(circuit.isOpen).toBe(true);
  });

  it('BEGIN and RESOLVE from a previous hop that authenticated as a relay the consensus does not list: END MISC', async () => {
    const net = new TestNet();
    let exitCalls = 0;
    const r1 = net.relay();
    const r2 = net.relay({
      openExit: async (b) => { exitCalls++; return echoExit()(b); },
      resolve: async () => { exitCalls++; return new Resolved([{ type: ResolvedType.IPV4, value: Uint8Array.of(192, 0, 2, 7), ttl: 60 }]); },
      // r1 proves an identity, but it is not in r2's consensus (throwaway relay keys).
      isKnownRelay: () => false,
    });
    const { circuit } = await build(net, [r1, r2]);
    const b = await rejection(circuit.openStream('example.com', 80));
    expect((b as StreamError).reason).toBe(EndReason.MISC);
    const r = await rejection(circuit.resolve('example.com', { timeoutMs: 2000 }));
    expect((r as StreamError).reason).toBe(EndReason.MISC);
    expect(exitCalls).toBe(0);
    // BEGIN_DIR stays allowed (tor too): the same relay serves directory streams.
    expect(circuit.isOpen).toBe(true);
  });

  it('without isKnownRelay nothing exits (fail closed), while BEGIN_DIR still works on a one-hop circuit', async () => {
    const net = new TestNet();
    let exitCalls = 0;
    const r1 = net.relay({ serveDirectory: (st) => st.close() });
    const r2 = net.relay({ openExit: async (b) => { exitCalls++; return echoExit()(b); }, isKnownRelay: undefined });
    const { circuit } = await build(net, [r1, r2]);
    const e = await rejection(circuit.openStream('example.com', 80));
    expect((e as StreamError).reason).toBe(EndReason.MISC);
    expect(exitCalls).toBe(0);
    const { circuit: oneHop } = await build(net, [r1]);
    const dir = await oneHop.openDirStream();
    expect((await dir.readAll()).length).toBe(0);
  });

  it('a relay in the consensus gets its BEGIN served (the same circuit shape as above)', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay({ openExit: echoExit() })];
    const { circuit } = await build(net, [r1, r2]);
    const s = await circuit.openStream('example.com', 80);
    await s.write(utf8('hi'));
    expect(new TextDecoder().decode((await s.read())!)).toBe('hi');
  });
});

describe('RelayCircuit: pending exit work stops when its stream or circuit is gone', () => {
  /** An exit that waits until told or until its signal fires; records what it saw. */
  function waitingExit(): { openExit: (b: Begin, signal: AbortSignal) => Promise<ExitOutcome>; signals: AbortSignal[] } {
    const signals: AbortSignal[] = [];
    return {
      signals,
      openExit: (_b, signal) => {
        signals.push(signal);
        return new Promise<ExitOutcome>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new StreamError('cancelled')), { once: true });
        });
      },
    };
  }

  it('destroying the circuit aborts the signal of a BEGIN still connecting, and of a RESOLVE still looking up', async () => {
    const net = new TestNet();
    const exit = waitingExit();
    const resolveSignals: AbortSignal[] = [];
    const r1 = net.relay();
    const r2 = net.relay({
      openExit: exit.openExit,
      resolve: (_m, signal) => {
        resolveSignals.push(signal);
        return new Promise<Resolved>(() => {});
      },
    });
    const { circuit } = await build(net, [r1, r2]);
    const opening = rejection(circuit.openStream('example.com', 80));
    const resolving = rejection(circuit.resolve('example.com', { timeoutMs: 30_000 }));
    await eventually(() => exit.signals.length === 1 && resolveSignals.length === 1, 'the exit and the resolver to be asked');
    expect(exit.signals[0]!.aborted || resolveSignals[0]!.aborted).toBe(false);
    circuit.destroy();
    await eventually(() => exit.signals[0]!.aborted && resolveSignals[0]!.aborted, 'both signals to fire');
    await opening;
    await resolving;
  });

  it('an END from the client before CONNECTED aborts that BEGIN\'s signal only', async () => {
    const net = new TestNet();
    const exit = waitingExit();
    const r1 = net.relay({ openExit: exit.openExit });
    // A relay's circuit (authenticated link): BEGIN is allowed on its first hop.
    const { initiator, responder } = await linkUp({ authenticator: relayAuthenticator, seed: 3 });
    r1.serve(responder);
    const raw = await RawCircuit.create(initiator, r1.target);
    raw.send(new Begin('example.com', 80), { streamId: 7 });
    raw.send(new Begin('example.org', 80), { streamId: 8 });
    await eventually(() => exit.signals.length === 2, 'both BEGINs to reach the exit');
    raw.send(new End(EndReason.MISC), { streamId: 7 });
    await eventually(() => exit.signals[0]!.aborted, 'stream 7\'s signal to fire');
    expect(exit.signals[1]!.aborted).toBe(false);
    // Nothing is sent for the stream the client ended.
    await tick(20);
    expect(raw.cells).toEqual([]);
  });
});

describe('RelayCircuit: backpressure queues per circuit, never kills the next comer', () => {
  /** Exactly `n` bytes from an echo stream (it only ends when we do). */
  async function readBytes(stream: TorStream, n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let pos = 0;
    while (pos < n) {
      const c = await stream.read();
      if (!c) throw new Error(`stream ended after ${pos} of ${n} bytes`);
      out.set(c, pos);
      pos += c.length;
    }
    return out;
  }

  /** A client whose link to `r` the test can stop reading (pause its transport). */
  async function clientLink(net: TestNet, r: TestRelay): Promise<{ channel: Channel; clientSide: MemoryTransport; relaySide: MemoryTransport }> {
    const { initiator, responder, initiatorSide, responderSide } = await linkUp({ seed: 40 + net.relays.length });
    r.serve(responder);
    return { channel: initiator, clientSide: initiatorSide, relaySide: responderSide };
  }

  /**
   * Circuit [r1, r2] on `channel` with `streams` echo streams; send() writes `cellsPerStream` full
   * DATA cells on each (set up first: a client that stops reading cannot finish a handshake).
   */
  async function echoCircuit(channel: Channel, r1: TestRelay, r2: TestRelay, streams: number, cellsPerStream: number): Promise<{ circuit: Circuit; sent: Uint8Array[]; opened: TorStream[]; send(): void }> {
    const circuit = await Circuit.create(channel, r1.target);
    await circuit.extend(r2.target);
    const sent: Uint8Array[] = [];
    const opened: TorStream[] = [];
    for (let i = 0; i < streams; i++) {
      opened.push(await circuit.openStream('192.0.2.1', 80));
      sent.push(pattern(cellsPerStream * RELAY_DATA_MAX, i + 1));
    }
    // A write fails when the relay destroys its circuit, which some tests expect: the tests look at
    // the circuit's fate, so a failed write is tracked (not an unhandled rejection), not asserted.
    return { circuit, sent, opened, send: () => opened.forEach((s, i) => void track(s.write(sent[i]!))) };
  }

  /** r1 extends every circuit over one shared link to r2, as a relay reuses its channel. */
  function sharedLinkNet(r1Services: Services = {}): { net: TestNet; r1: TestRelay; r2: TestRelay } {
    const net = new TestNet();
    let toR2: Promise<Channel> | undefined;
    const r1: TestRelay = net.relay({ extend: (specs) => (toR2 ??= net.extendFrom(r1, specs)), ...r1Services });
    const r2 = net.relay({ openExit: echoExit() });
    return { net, r1, r2 };
  }

  it('a client that stops reading fills only its own circuit\'s queue; that circuit is closed, an honest one on the same link carries on', async () => {
    const limit = 200;
    // A low limit towards the client, so that a short flood shows it; the default towards the exit.
    const { net, r1, r2 } = sharedLinkNet({ cellQueueLimits: () => ({ inbound: limit, outbound: 1250 }) });
    const attacker = await clientLink(net, r1);
    const honest = await clientLink(net, r1);
    const flood = await echoCircuit(attacker.channel, r1, r2, 2, 450);
    const good = await echoCircuit(honest.channel, r1, r2, 1, 300);
    // The attacker reads nothing from now on; it sends 900 cells for the exit to echo back.
    attacker.clientSide.pause();
    flood.send();
    good.send();
    // The attacker's circuit dies at r1 (its queue passed the limit) and r1 tells r2 so.
    await eventually(() => r1.log.lines.some((l) => l.includes('circ_max_cell_queue_size')), 'r1 to close the flooding circuit');
    await eventually(() => r1.switch.openCircuits === 1 && r2.switch.openCircuits === 1, 'only the honest circuit to remain');
    // The honest client gets every byte back through the same r2 -> r1 link, while the attacker still reads nothing.
    const back = await readBytes(good.opened[0]!, good.sent[0]!.length);
    expect(equalBytes(back, good.sent[0]!)).toBe(true);
    expect(good.circuit.isOpen).toBe(true);
    expect(attacker.clientSide.isPaused).toBe(true);
    // The shared relay link was never paused: only the flooding circuit paid.
    expect(r1.opened.length).toBe(1);
    expect(r1.opened[0]!.readingPaused).toBe(false);
    // When the attacker reads at last, it finds its circuit destroyed for RESOURCELIMIT.
    const closed = new Promise<CircuitError>((resolve) => flood.circuit.onClose(resolve));
    attacker.clientSide.resume();
    expect((await closed).reason).toBe(DestroyReason.RESOURCELIMIT);
  });

  it('MaxMemInQueues: when all queues together pass the limit, the circuit with the oldest queued cell is destroyed', async () => {
    let t = 0;
    const memory = new CellQueueMemory({ maxBytes: 500 * 514, now: () => t, log: silentLogger });
    const { net, r1, r2 } = sharedLinkNet({ queueMemory: memory });
    const first = await clientLink(net, r1);
    const second = await clientLink(net, r1);
    const older = await echoCircuit(first.channel, r1, r2, 2, 450);
    const newer = await echoCircuit(second.channel, r1, r2, 2, 450);
    first.clientSide.pause();
    second.clientSide.pause();
    t = 1;
    older.send();
    // Its 900 cells come back: about 510 fill the link's transport buffer, the rest wait in its queue.
    await eventually(() => r1.accepted[0]!.queuedBytes >= 880 * 514, 'the first circuit\'s echo to back up');
    expect(memory.total).toBeGreaterThanOrEqual(300 * 514);
    expect(memory.oomRuns).toBe(0);
    t = 2;
    newer.send();
    await eventually(() => memory.oomRuns > 0 && r1.switch.openCircuits === 1, 'the OOM handler to run');
    expect(memory.circuitsKilled).toBe(1);
    expect(memory.total).toBeLessThanOrEqual(450 * 514);
    // The older circuit went; the newer one still has its cells and gets all of them.
    const olderClosed = new Promise<CircuitError>((resolve) => older.circuit.onClose(resolve));
    first.clientSide.resume();
    expect((await olderClosed).reason).toBe(DestroyReason.RESOURCELIMIT);
    second.clientSide.resume();
    for (const [i, s] of newer.opened.entries()) expect(equalBytes(await readBytes(s, newer.sent[i]!.length), newer.sent[i]!)).toBe(true);
    expect(newer.circuit.isOpen).toBe(true);
  });

  it('a client link whose peer reads nothing is not read either (high-water mark), and is read again once it drains', async () => {
    const { net, r1, r2 } = sharedLinkNet();
    const client = await clientLink(net, r1);
    // Five circuits of echoed data: more than READ_PAUSE_HIGH_WATER_BYTES wait for the client.
    const floods = [];
    for (let i = 0; i < 5; i++) floods.push(await echoCircuit(client.channel, r1, r2, 2, 450));
    client.clientSide.pause();
    for (const f of floods) f.send();
    const relayChannel = r1.accepted.at(-1)!;
    await eventually(() => client.relaySide.isPaused, 'r1 to stop reading the client');
    expect(relayChannel.readingPaused).toBe(true);
    expect(r1.switch.openCircuits).toBe(5);
    // The client reads again: the backlog drains, r1 reads again, and every byte arrives intact.
    client.clientSide.resume();
    for (const f of floods) for (const [i, s] of f.opened.entries()) expect(equalBytes(await readBytes(s, f.sent[i]!.length), f.sent[i]!)).toBe(true);
    expect(client.relaySide.isPaused).toBe(false);
    expect(relayChannel.readingPaused).toBe(false);
    expect(client.relaySide.resumes).toBeGreaterThan(0);
  });
});

describe('RelayCircuit: EXTEND2 back to the previous hop', () => {
  it('is a protocol violation (tor: circuit_extend_lspec_valid_helper): the circuit is destroyed, nothing is dialled', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2]);
    const dialsBefore = net.extendCalls;
    // r2's previous hop is r1 (its link proved r1's identity): extending to r1 goes back.
    const e = await rejection(circuit.extend(r1.target));
    expect(e).toBeInstanceOf(CircuitError);
    expect((e as CircuitError).reason).toBe(DestroyReason.PROTOCOL);
    expect(net.extendCalls).toBe(dialsBefore);
    await eventually(() => r2.switch.openCircuits === 0, 'r2 to destroy its circuit');
    expect(r2.log.lines.some((l) => l.includes('EXTEND2 back to the previous hop (by RSA identity)'))).toBe(true);
  });

  it('a client\'s first hop names no previous relay: extending from it works as before', async () => {
    const net = new TestNet();
    const [r1, r2] = [net.relay(), net.relay()];
    const { circuit } = await build(net, [r1, r2]);
    expect(circuit.isOpen).toBe(true);
  });
});
