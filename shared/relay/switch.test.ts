import { describe, expect, it } from 'vitest';
import { fromHex, utf8 } from '../bytes/index.ts';
import { ChanCmd, CertsCell, Create2, CreateFast, Destroy, DestroyReason, HandshakeType, type ChannelCell } from '../cells/index.ts';
import { NtorClient, generateNtorKeyPair, secureRandomBytes, RsaPublicKey, type VerifiedInitiatorIdentity } from '../crypto/index.ts';
import { silentLogger, type TelescopeError, type Logger } from '../util/index.ts';
import { Channel, MemoryTransport, type CircuitEndpoint, type LinkAuthenticator } from '../channel/index.ts';
import { Circuit, type RelayTarget } from '../circuit/index.ts';
import { FakeTime } from '../testing/fake-time.ts';
import { DosGuard, resolveDosParams, type DosParams } from './dos.ts';
import { REFUSED_CREATE_BURST, RelaySwitch, type ChannelPeer, type RelaySwitchOptions } from './switch.ts';
import link from '../cells/fixtures/link.json';
import certsVec from '../crypto/fixtures/certs.json';

/**
 * The switch's limits over real channels in memory (handshakes, framing, crypto all real), with
 * the switch's clock faked: tor's DoS defences per address, MaxCircuits that makes room for a
 * newcomer at the expense of the biggest holder, CREATE_FAST refused over WebSocket, idle
 * circuits and idle channels closed on tor's schedule.
 */

const certsBody = fromHex(link.certs_cell_body_hex);
const certsValidAt = new Date(certsVec.channel_verification_time);
const identity = fromHex(certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der);
const relayInitiator: VerifiedInitiatorIdentity = {
  rsaIdentity: identity,
  fingerprint: certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der,
  rsaKey: RsaPublicKey.fromPkcs1Der(fromHex(certsVec.derived.rsa_identity_pubkey_pkcs1_der)),
  ed25519Identity: fromHex(certsVec.derived.ed25519_identity),
  authKey: new Uint8Array(32),
};
const relayAuthenticator: LinkAuthenticator = {
  certsBody: new CertsCell([{ type: 2, body: Uint8Array.of(1) }]).encode(),
  authenticate: () => ({ authType: 3, body: new Uint8Array(352) }),
};

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Relay {
  readonly onion = generateNtorKeyPair();
  readonly time = new FakeTime();
  readonly switch: RelaySwitch;
  readonly dos: DosGuard | undefined;
  readonly target: RelayTarget;
  readonly served: Channel[] = [];

  constructor(opts: { dos?: Partial<DosParams>; switch?: Partial<RelaySwitchOptions>; log?: Logger } = {}) {
    this.time.t = 1_000_000;
    this.dos = opts.dos ? new DosGuard({ params: { ...resolveDosParams(undefined), ...opts.dos }, now: this.time.now, randomInt: (n) => n - 1 }) : undefined;
    this.target = { rsaIdentity: identity, ntorOnionKey: this.onion.public };
    this.switch = new RelaySwitch({
      identity,
      onionKeys: () => [this.onion],
      services: {
        log: opts.log ?? silentLogger,
        extend: () => Promise.reject(new Error('no extends here')),
        serveDirectory: (s) => void s.write(utf8('x')),
      },
      now: this.time.now,
      randomInt: (n) => n - 1,
      ...(this.dos ? { dos: this.dos } : {}),
      ...opts.switch,
    });
  }

  /** A client (or, with `asRelay`, an authenticated relay) connects from `peer`. */
  async connect(peer: ChannelPeer, opts: { asRelay?: boolean } = {}): Promise<Channel | undefined> {
    if (peer.address !== undefined && this.dos) {
      const verdict = this.dos.admitConnection(peer.address);
      if (!verdict.ok) return undefined;
    }
    const [a, b] = MemoryTransport.pair({ seed: this.served.length + 1 });
    const [initiator, responder] = await Promise.all([
      Channel.open(a, { now: () => certsValidAt, ...(opts.asRelay ? { authenticator: relayAuthenticator } : {}) }),
      Channel.accept(b, {
        certsBody,
        challenge: secureRandomBytes(32),
        nowSeconds: () => Math.floor(certsValidAt.getTime() / 1000),
        peerAddress: { type: 'ipv4', bytes: new Uint8Array(4) },
        myAddresses: [],
        verifyAuthenticate: () => relayInitiator,
      }),
    ]);
    this.served.push(responder);
    this.switch.attach(responder, peer);
    return initiator;
  }
}

/** A CREATE_FAST sent by hand; resolves with the relay's answer (CREATED_FAST or DESTROY). */
class RawCircuit implements CircuitEndpoint {
  readonly circId: number;
  readonly cells: ChannelCell[] = [];
  private waiting: ((c: ChannelCell) => void) | undefined;
  constructor(readonly channel: Channel) {
    this.circId = channel.registerCircuit(this);
  }
  onCell(cell: ChannelCell): void {
    this.cells.push(cell);
    this.waiting?.(cell);
  }
  onChannelClosed(_e: TelescopeError): void {}
  next(): Promise<ChannelCell> {
    const c = this.cells.shift();
    if (c) return Promise.resolve(c);
    return new Promise((resolve) => { this.waiting = (cell) => { this.waiting = undefined; this.cells.shift(); resolve(cell); }; });
  }
  static async createFast(channel: Channel): Promise<{ ok: boolean; reason?: number; raw: RawCircuit }> {
    const raw = new RawCircuit(channel);
    channel.send({ circId: raw.circId, command: ChanCmd.CREATE_FAST, body: new CreateFast(secureRandomBytes(20)).encode() });
    const reply = await raw.next();
    if (reply.command === ChanCmd.CREATED_FAST) return { ok: true, raw };
    expect(reply.command).toBe(ChanCmd.DESTROY);
    return { ok: false, reason: Destroy.decode(reply.body).reason, raw };
  }
}

describe('RelaySwitch: the circuit table under attack', () => {
  it('~40 connections from one address filling MaxCircuits with CREATE_FAST do not lock out an honest newcomer', async () => {
    // No DoS defence at all here: MaxCircuits itself must not refuse the next comer.
    const relay = new Relay({ switch: { maxCircuits: 200, createRate: 0 } });
    const attackers: Channel[] = [];
    for (let i = 0; i < 40; i++) attackers.push((await relay.connect({ address: '198.51.100.66', transport: 'tls' }))!);
    let refused = 0;
    for (let round = 0; round < 6; round++) {
      const results = await Promise.all(attackers.map((ch) => RawCircuit.createFast(ch)));
      refused += results.filter((r) => !r.ok).length;
    }
    expect(relay.switch.openCircuits).toBe(200);
    // The abuser, holding everything, is refused once the table is full.
    expect(refused).toBe(40);
    const honest = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    const circuits = [];
    for (let i = 0; i < 5; i++) circuits.push(await Circuit.create(honest, relay.target));
    expect(circuits.every((c) => c.isOpen)).toBe(true);
    expect(relay.switch.openCircuits).toBe(200);
    expect(relay.switch.stats.evictedForNewcomers).toBe(5);
  });

  it("tor's DoSCircuitCreation defence refuses the address over its rate for the defense period, and only it", async () => {
    const relay = new Relay({ dos: { circuitCreationBurst: 20, circuitCreationRate: 1, circuitCreationMinConnections: 3, circuitCreationDefenseTimePeriod: 60 } });
    const attackers = await Promise.all([1, 2, 3].map(() => relay.connect({ address: '198.51.100.66', transport: 'websocket' })));
    const honest = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    const results: boolean[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await Circuit.create(attackers[i % 3]!, relay.target).then(() => true, () => false);
      results.push(c);
    }
    // The burst (less the one that empties the bucket), then refusal.
    expect(results.filter(Boolean)).toHaveLength(19);
    expect(results.slice(19).every((r) => !r)).toBe(true);
    expect(relay.dos!.stats.markedAddresses).toBe(1);
    // The honest client on the same relay builds its circuits.
    await Circuit.create(honest, relay.target);
    // Still refused while marked, even with tokens back...
    relay.time.advance(30_000);
    expect(await Circuit.create(attackers[0]!, relay.target).then(() => true, () => false)).toBe(false);
    // ...and served once the mark (60 s + 30 s) has run out.
    relay.time.advance(91_000);
    await Circuit.create(attackers[0]!, relay.target);
  });

});

/**
 * A flood of CREATE cells sent by hand in one turn (one transport write), and what came back: the
 * relay's answers per kind, and whether it closed the link. Waits until the answers stop coming.
 */
async function flood(channel: Channel, n: number, make: (circId: number) => ChannelCell): Promise<{ created: number; destroyed: Map<number, number>; closed: boolean }> {
  const out = { created: 0, destroyed: new Map<number, number>(), closed: false };
  channel.onClose(() => { out.closed = true; });
  for (let i = 0; i < n; i++) {
    const endpoint: CircuitEndpoint = {
      onCell: (cell) => {
        if (cell.command === ChanCmd.DESTROY) {
          const reason = Destroy.decode(cell.body).reason;
          out.destroyed.set(reason, (out.destroyed.get(reason) ?? 0) + 1);
        } else out.created++;
      },
      onChannelClosed: () => {},
    };
    const circId = channel.registerCircuit(endpoint);
    channel.send(make(circId));
  }
  let seen = -1;
  for (let quiet = 0; quiet < 3;) {
    await tick(5);
    const now = out.created + [...out.destroyed.values()].reduce((a, b) => a + b, 0) + (out.closed ? 1 : 0);
    quiet = now === seen ? quiet + 1 : 0;
    seen = now;
  }
  return out;
}

const createFast = (circId: number): ChannelCell => ({ circId, command: ChanCmd.CREATE_FAST, body: new CreateFast(secureRandomBytes(20)).encode() });
/** A CREATE2 with a real ntor onionskin: the relay does the whole server handshake for each. */
const create2 = (relay: Relay) => {
  const onionskin = NtorClient.start(relay.target.rsaIdentity, relay.target.ntorOnionKey).onionskin;
  return (circId: number): ChannelCell => ({ circId, command: ChanCmd.CREATE2, body: new Create2(HandshakeType.NTOR, onionskin).encode() });
};

describe('RelaySwitch: handshakes from the registry', () => {
  it('refuses CREATE2 of a type it does not answer (TAP, CREATE_FAST\'s own, ntor-v3, unassigned) with DESTROY PROTOCOL, and keeps the link', async () => {
    const relay = new Relay();
    const ch = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    // A well-formed ntor onionskin for this relay: only the type is wrong.
    const onionskin = NtorClient.start(relay.target.rsaIdentity, relay.target.ntorOnionKey).onionskin;
    const types = [HandshakeType.TAP, HandshakeType.FAST, HandshakeType.NTOR_V3, 0x1234];
    for (const type of types) {
      const raw = new RawCircuit(ch);
      ch.send({ circId: raw.circId, command: ChanCmd.CREATE2, body: new Create2(type, onionskin).encode() });
      const reply = await raw.next();
      expect(reply.command).toBe(ChanCmd.DESTROY);
      expect(Destroy.decode(reply.body).reason).toBe(DestroyReason.PROTOCOL);
    }
    expect(relay.switch.stats.refusedProtocol).toBe(types.length);
    expect(relay.switch.created).toBe(0);
    expect(ch.isOpen).toBe(true);
  });

  it('answers ntor (CREATE2) and CREATE_FAST: the circuits each side builds carry a stream to the relay', async () => {
    const relay = new Relay();
    const ch = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    for (const circuit of [await Circuit.create(ch, relay.target), await Circuit.createFast(ch)]) {
      const stream = await circuit.openDirStream();
      expect(await stream.read()).toEqual(utf8('x'));
      expect(circuit.hopNonce(0).length).toBe(20);
    }
    expect(relay.switch.created).toBe(2);
    expect(relay.switch.stats.refusedProtocol).toBe(0);
  });
});

describe('RelaySwitch: refusing costs less than what it refuses, and hits the abuser', () => {
  it('closes a WebSocket link that sends CREATE_FAST (a link protocol violation) at the first one, instead of a DESTROY for each; answers it over TLS', async () => {
    const relay = new Relay();
    const ws = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    await Circuit.create(ws, relay.target); // CREATE2 (ntor) is what a WebSocket client sends
    const r = await flood(ws, 200, createFast);
    expect(r).toEqual({ created: 0, destroyed: new Map(), closed: true });
    expect(relay.switch.stats.createFastRefused).toBe(1);
    expect(relay.switch.stats.linksClosedForProtocol).toBe(1);
    // Another WebSocket link from the same address is not held to it.
    const again = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    await Circuit.create(again, relay.target);
    const tls = (await relay.connect({ address: '203.0.113.6', transport: 'tls' }))!;
    expect((await RawCircuit.createFast(tls)).ok).toBe(true);
  });

  it('closes a link whose CREATE carries a circuit id of the wrong side (high bit clear from the initiator) or 0', async () => {
    const relay = new Relay();
    for (const wrong of [0x00001234, 0]) {
      const ch = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
      const make = create2(relay);
      let sent = 0;
      const r = await flood(ch, 50, () => make(sent++ === 0 ? wrong : 0x80000000 + sent));
      expect(r.closed).toBe(true);
      expect(r.destroyed.size).toBe(0);
    }
    expect(relay.switch.stats.linksClosedForProtocol).toBe(2);
    // The cells behind the bad one were never worked on: no circuit was made.
    expect(relay.switch.created).toBe(0);
  });

  it('a link from a marked address that keeps creating gets REFUSED_CREATE_BURST DESTROYs, then is closed; its address cannot connect while marked; a link from it that stopped keeps its circuits', async () => {
    const relay = new Relay({ dos: { circuitCreationBurst: 20, circuitCreationRate: 1, circuitCreationMinConnections: 3, circuitCreationDefenseTimePeriod: 60 } });
    const abuser = '198.51.100.66';
    // Someone behind the same NAT address, with a circuit built before the flood.
    const neighbour = (await relay.connect({ address: abuser, transport: 'websocket' }))!;
    const neighbourCircuit = await Circuit.create(neighbour, relay.target);
    const links = await Promise.all([1, 2].map(() => relay.connect({ address: abuser, transport: 'websocket' })));
    const honest = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    const r = await flood(links[0]!, 1000, create2(relay));
    // The burst less the one that empties the bucket (the neighbour's circuit took one)...
    expect(r.created).toBe(18);
    // ...then tor's answer, DESTROY RESOURCELIMIT, for as long as the link may be told so...
    expect(r.destroyed).toEqual(new Map([[DestroyReason.RESOURCELIMIT, REFUSED_CREATE_BURST]]));
    // ...and the link is closed at the next one: the rest of the 1000 is never looked at.
    expect(r.closed).toBe(true);
    expect(relay.switch.stats.linksClosedForFlooding).toBe(1);
    expect(relay.dos!.stats.circuitsRefused).toBe(REFUSED_CREATE_BURST + 1);
    expect(relay.switch.stats.refusedDos).toBe(REFUSED_CREATE_BURST + 1);
    // Marked: a new connection from the address is refused before any handshake...
    expect(await relay.connect({ address: abuser, transport: 'websocket' })).toBeUndefined();
    expect(relay.dos!.stats.markedConnectionsRefused).toBe(1);
    // ...while the neighbour's open link keeps its circuit, and a refused CREATE now and then does
    // not close it.
    await expect(Circuit.create(neighbour, relay.target)).rejects.toThrow();
    expect(neighbour.isOpen).toBe(true);
    expect(neighbourCircuit.isOpen).toBe(true);
    neighbourCircuit.sendDrop(0, 1);
    // Other addresses are served all along.
    await Circuit.create(honest, relay.target);
    // Once the mark has run out (60 s + 30 s), the address connects and creates again.
    relay.time.advance(91_000);
    const back = (await relay.connect({ address: abuser, transport: 'websocket' }))!;
    await Circuit.create(back, relay.target);
  });

  it("a client link over CreateRateLimit is closed past its refusals; a relay's link is never closed for refusals (it carries others' circuits)", async () => {
    const relay = new Relay({ switch: { createRate: 10, maxCircuits: 30, isKnownRelay: () => true } });
    const client = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    const r = await flood(client, 500, create2(relay));
    expect(r.created).toBe(20);
    expect(r.destroyed).toEqual(new Map([[DestroyReason.RESOURCELIMIT, REFUSED_CREATE_BURST]]));
    expect(r.closed).toBe(true);
    expect(relay.switch.stats.refusedRate).toBe(REFUSED_CREATE_BURST + 1);
    // A relay filling the table (a relay is not held to CreateRateLimit) is refused, not closed.
    const peerRelay = (await relay.connect({ address: '192.0.2.1', transport: 'tls' }, { asRelay: true }))!;
    const fromRelay = await flood(peerRelay, 100, create2(relay));
    expect(fromRelay.created).toBe(30);
    expect(fromRelay.destroyed).toEqual(new Map([[DestroyReason.RESOURCELIMIT, 70]]));
    expect(fromRelay.closed).toBe(false);
    expect(relay.switch.stats.linksClosedForFlooding).toBe(1);
  });

  it('logs nothing per refused CREATE (the counts are in stats for status lines)', async () => {
    const lines: string[] = [];
    const log: Logger = { debug: (m) => lines.push(m), info: (m) => lines.push(m), notice: (m) => lines.push(m), warn: (m) => lines.push(m) };
    const relay = new Relay({ log, switch: { createRate: 1, maxCircuits: 1 } });
    const client = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    const r = await flood(client, 30, create2(relay));
    expect(r.created).toBe(1);
    expect(r.destroyed.get(DestroyReason.RESOURCELIMIT)).toBe(29);
    expect(relay.switch.stats.refusedRate + relay.switch.stats.refusedFull).toBe(29);
    expect(lines).toEqual([]);
  });
});

describe('RelaySwitch: idle circuits and channels', () => {
  it('closes client circuits that end here, carry no stream and are idle for 60 s (FINISHED)', async () => {
    const relay = new Relay();
    const ch = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    const idle = await Circuit.create(ch, relay.target);
    const busy = await Circuit.create(ch, relay.target);
    const stream = await busy.openDirStream();
    const closed = new Promise<number>((resolve) => idle.onClose((e) => resolve(e.reason ?? -1)));
    relay.time.advance(59_000);
    relay.switch.housekeeping();
    expect(relay.switch.openCircuits).toBe(2);
    relay.time.advance(1_000);
    relay.switch.housekeeping();
    expect(await closed).toBe(DestroyReason.FINISHED);
    // The circuit with a stream stays; once the stream is gone and a minute passes, it goes too.
    expect(busy.isOpen).toBe(true);
    stream.close();
    await tick(20);
    relay.time.advance(60_000);
    relay.switch.housekeeping();
    expect(relay.switch.openCircuits).toBe(0);
    expect(relay.switch.stats.expiredCircuits).toBe(2);
  });

  it('a circuit in use is not expired: every cell from the client renews it', async () => {
    const relay = new Relay();
    const ch = (await relay.connect({ address: '203.0.113.5', transport: 'tls' }))!;
    const c = await Circuit.create(ch, relay.target);
    for (let i = 0; i < 5; i++) {
      relay.time.advance(50_000);
      c.sendDrop(0, 1);
      await tick(10);
      relay.switch.housekeeping();
    }
    expect(c.isOpen).toBe(true);
    expect(relay.switch.openCircuits).toBe(1);
  });

  it("circuits from relays in the consensus are not expired (they are others' circuits passing through)", async () => {
    const relay = new Relay({ switch: { isKnownRelay: () => true } });
    const ch = (await relay.connect({ address: '192.0.2.1', transport: 'tls' }, { asRelay: true }))!;
    await Circuit.create(ch, relay.target);
    relay.time.advance(3600_000);
    relay.switch.housekeeping();
    expect(relay.switch.openCircuits).toBe(1);
  });

  it("closes channels without circuits after tor's idle timeouts: clients 3 to 4.5 min, relays 45 to 75 min", async () => {
    const relay = new Relay({ switch: { isKnownRelay: () => true } });
    const client = (await relay.connect({ address: '203.0.113.5', transport: 'websocket' }))!;
    const other = (await relay.connect({ address: '203.0.113.6', transport: 'websocket' }))!;
    const peerRelay = (await relay.connect({ address: '192.0.2.1', transport: 'tls' }, { asRelay: true }))!;
    const c = await Circuit.create(other, relay.target);
    // With this test's random source at its largest: 270 s for clients. The circuit on `other`
    // is kept in use meanwhile (a cell every 30 s).
    for (let s = 30; s <= 270; s += 30) {
      relay.time.advance(30_000);
      c.sendDrop(0, 1);
      await tick(10);
      relay.switch.housekeeping();
      await tick(10);
      expect(client.isOpen).toBe(s < 270);
    }
    // A channel with a circuit stays, however long.
    expect(other.isOpen).toBe(true);
    expect(peerRelay.isOpen).toBe(true);
    // The relay's channel: 45 min + up to 30 min (here 75 min).
    relay.time.advance(75 * 60_000 - 270_000);
    relay.switch.housekeeping();
    await tick(20);
    expect(peerRelay.isOpen).toBe(false);
    expect(relay.switch.stats.idleChannelsClosed).toBeGreaterThanOrEqual(2);
  });
});
