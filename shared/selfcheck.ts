import { toHex, utf8, equalBytes } from './bytes/index.ts';
import { RelayCryptoError, TelescopeError } from './util/index.ts';
import { ChanCmd, CellDecoder, encodeCell, Create2, Created2, Destroy, DestroyReason, HandshakeType, Relay, decodeChanMsg, RelayCmd, packRelayCell, unpackRelayCell, Begin, Connected, Data, Drop, Extend2, Extended2, Sendme, decodeRelayMsg, type ChannelCell, type RelayMsg, type LinkSpecifier } from './cells/index.ts';
import { NtorClient, generateNtorKeyPair, ntorServerHandshake, secureRandomBytes, tor1KeysFrom, ClientCircuitCrypto, RelayHopCrypto, type NtorKeyPair, type AesCtrFactory } from './crypto/index.ts';

/**
 * An end-to-end self-check of a circuit's crypto, in memory, with no network: a client builds a
 * 3-hop circuit through three in-memory relays (CREATE2 with ntor, then EXTEND2 in RELAY_EARLY
 * cells, each hop forwarding what it does not recognize), opens a stream at the exit, exchanges
 * data, checks an authenticated SENDME, sends a DROP to the middle hop (leaky pipe), and checks that
 * a tampered cell is refused. Every cell goes through the real encoders, framing and decoders.
 * `npm start` runs it today; the extension's service worker runs it to prove the core there.
 */

export interface SelfcheckStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface SelfcheckReport {
  readonly ok: boolean;
  readonly steps: SelfcheckStep[];
}

const LINK_VERSION = 5;

/** Frame a channel cell and read it back, as the far end of a link would. */
function overTheWire(cell: ChannelCell): ChannelCell {
  const cells = new CellDecoder(LINK_VERSION).push(encodeCell(cell, LINK_VERSION));
  if (cells.length !== 1) throw new TelescopeError(`framing produced ${cells.length} cells`);
  return cells[0]!;
}

interface RelayCircuit {
  readonly crypto: RelayHopCrypto;
  /** The next hop, once extended: that relay and the circuit id on that link. */
  next?: { relay: InMemoryRelay; circId: number };
  /** Where inbound cells go: the previous relay (and its circuit id) or the client. */
  readonly prev: { relay: InMemoryRelay; circId: number } | { client: (cell: ChannelCell) => void };
}

/** A relay with ntor keys and a circuit table: enough of a relay to exercise the circuit protocol. */
class InMemoryRelay {
  readonly identity = secureRandomBytes(20);
  readonly ed25519Identity = secureRandomBytes(32);
  readonly onionKey: NtorKeyPair = generateNtorKeyPair();
  private readonly circuits = new Map<number, RelayCircuit>();
  private nextCircId = 0x80000001;
  /** Relay messages this relay recognized, for the report. */
  readonly received: RelayMsg[] = [];
  /** Digest of the last cell it recognized (for SENDME v1). */
  readonly lastDigest = new Uint8Array(20);

  constructor(readonly nickname: string, private readonly network: Map<string, InMemoryRelay>, private readonly aes: AesCtrFactory | undefined) {}

  /** A cell arriving from the client side of a circuit. */
  fromPrev(cell: ChannelCell, prev: RelayCircuit['prev']): void {
    const msg = decodeChanMsg(cell.command, cell.body);
    if (msg instanceof Create2) {
      const { reply, keyMaterial } = ntorServerHandshake(msg.handshakeData, { identity: this.identity, onionKeys: [this.onionKey] });
      this.circuits.set(cell.circId, { crypto: new RelayHopCrypto(tor1KeysFrom(keyMaterial), this.aes), prev });
      this.sendBack(cell.circId, { circId: cell.circId, command: ChanCmd.CREATED2, body: new Created2(reply).encode() });
      return;
    }
    const circ = this.circuits.get(cell.circId);
    if (!circ) throw new TelescopeError(`${this.nickname}: no circuit ${cell.circId}`);
    if (!(msg instanceof Relay)) throw new TelescopeError(`${this.nickname}: unexpected ${ChanCmd.nameOf(cell.command)}`);
    const body = msg.body.slice();
    if (!circ.crypto.decryptOutbound(body, this.lastDigest)) {
      if (!circ.next) throw new RelayCryptoError(`${this.nickname}: unrecognized cell with no next hop`);
      circ.next.relay.fromPrev(overTheWire({ circId: circ.next.circId, command: cell.command, body }), { relay: this, circId: cell.circId });
      return;
    }
    const { command, streamId, data } = unpackRelayCell(body);
    const rmsg = decodeRelayMsg(command, data);
    this.received.push(rmsg);
    if (rmsg instanceof Extend2) this.extend(cell.circId, circ, rmsg, msg.early);
    else if (rmsg instanceof Begin) this.reply(cell.circId, circ, streamId, new Connected({ address: Uint8Array.of(127, 0, 0, 1), ttl: 300 }));
    else if (rmsg instanceof Data) this.reply(cell.circId, circ, streamId, new Data(utf8(`hello from the ${this.nickname}`)));
  }

  private extend(circId: number, circ: RelayCircuit, msg: Extend2, early: boolean): void {
    if (!early) throw new TelescopeError(`${this.nickname}: EXTEND2 outside RELAY_EARLY`);
    const id = msg.linkSpecifiers.find((s) => s.type === 'legacy-id');
    const target = id && [...this.network.values()].find((r) => id.type === 'legacy-id' && equalBytes(r.identity, id.rsaIdentity));
    if (!target) throw new TelescopeError(`${this.nickname}: EXTEND2 to an unknown relay`);
    const nextId = this.nextCircId++;
    circ.next = { relay: target, circId: nextId };
    target.fromPrev(overTheWire({ circId: nextId, command: ChanCmd.CREATE2, body: new Create2(msg.handshakeType, msg.handshakeData).encode() }), { relay: this, circId });
  }

  /** A cell arriving from the next hop of one of our circuits (`circId` is our previous-side id). */
  fromNext(prevCircId: number, cell: ChannelCell): void {
    const circ = this.circuits.get(prevCircId)!;
    const msg = decodeChanMsg(cell.command, cell.body);
    if (msg instanceof Created2) {
      // Answer the client's EXTEND2 with EXTENDED2 carrying the next hop's CREATED2 reply.
      this.reply(prevCircId, circ, 0, new Extended2(msg.handshakeData));
      return;
    }
    const body = (msg as Relay).body.slice();
    circ.crypto.encryptInbound(body, false);
    this.sendBack(prevCircId, { circId: prevCircId, command: ChanCmd.RELAY, body });
  }

  /** Originate a relay message towards the client. */
  reply(circId: number, circ: RelayCircuit, streamId: number, msg: RelayMsg, digestOut?: Uint8Array): void {
    const body = packRelayCell({ command: msg.command, streamId, data: msg.encode() });
    circ.crypto.encryptInbound(body, true, digestOut);
    this.sendBack(circId, { circId, command: ChanCmd.RELAY, body });
  }

  /** The one circuit an exit in this check carries, with its id. */
  soleCircuit(): [number, RelayCircuit] {
    const [entry] = this.circuits.entries();
    if (!entry || this.circuits.size !== 1) throw new TelescopeError(`${this.nickname} carries ${this.circuits.size} circuits`);
    return entry;
  }

  private sendBack(circId: number, cell: ChannelCell): void {
    const circ = this.circuits.get(circId)!;
    const wire = overTheWire(cell);
    if ('client' in circ.prev) circ.prev.client(wire);
    else circ.prev.relay.fromNext(circ.prev.circId, wire);
  }
}

export async function runSelfcheck(opts: { aes?: AesCtrFactory } = {}): Promise<SelfcheckReport> {
  const steps: SelfcheckStep[] = [];
  const step = (name: string, ok: boolean, detail: string) => steps.push({ name, ok, detail });
  try {
    const network = new Map<string, InMemoryRelay>();
    const [guard, middle, exit] = ['guard', 'middle', 'exit'].map((n) => {
      const r = new InMemoryRelay(n, network, opts.aes);
      network.set(n, r);
      return r;
    }) as [InMemoryRelay, InMemoryRelay, InMemoryRelay];
    step('relays', true, [guard, middle, exit].map((r) => `${r.nickname} ${toHex(r.identity).toUpperCase().slice(0, 16)}… ntor ${toHex(r.onionKey.public).slice(0, 16)}…`).join('; '));

    const circId = 0x80000001;
    const client = new ClientCircuitCrypto(opts.aes);
    const inbox: ChannelCell[] = [];
    const toClient = (cell: ChannelCell) => inbox.push(cell);
    const takeInbound = (): { hop: number; msg: RelayMsg; streamId: number; digest: Uint8Array } => {
      const cell = inbox.shift();
      if (!cell) throw new TelescopeError('no cell arrived at the client');
      const msg = decodeChanMsg(cell.command, cell.body);
      if (!(msg instanceof Relay)) throw new TelescopeError(`client got ${ChanCmd.nameOf(cell.command)}`);
      const body = msg.body.slice();
      const digest = new Uint8Array(20);
      const hop = client.decryptInbound(body, digest);
      const { command, streamId, data } = unpackRelayCell(body);
      return { hop, msg: decodeRelayMsg(command, data), streamId, digest };
    };
    const sendOutbound = (hop: number, msg: RelayMsg, streamId = 0, early = false, digestOut?: Uint8Array) => {
      const body = packRelayCell({ command: msg.command, streamId, data: msg.encode() });
      client.encryptOutbound(body, hop, digestOut);
      guard.fromPrev(overTheWire({ circId, command: early ? ChanCmd.RELAY_EARLY : ChanCmd.RELAY, body }), { client: toClient });
    };

    // Hop 1: CREATE2 with ntor.
    const first = NtorClient.start(guard.identity, guard.onionKey.public);
    guard.fromPrev(overTheWire({ circId, command: ChanCmd.CREATE2, body: new Create2(HandshakeType.NTOR, first.onionskin).encode() }), { client: toClient });
    const created = decodeChanMsg(inbox[0]!.command, inbox.shift()!.body) as Created2;
    client.addHop(tor1KeysFrom(first.pending.finish(created.handshakeData)));
    step('CREATE2 (ntor) to hop 1', true, `guard proved its onion key; circuit ${circId.toString(16)}, tor1 keys derived`);

    // Hops 2 and 3: EXTEND2 inside RELAY_EARLY, answered by EXTENDED2.
    for (const [hop, relay] of [[1, middle], [2, exit]] as const) {
      const hs = NtorClient.start(relay.identity, relay.onionKey.public);
      const specs: LinkSpecifier[] = [
        { type: 'ipv4', address: Uint8Array.of(127, 0, 0, 1), port: 9000 + hop },
        { type: 'legacy-id', rsaIdentity: relay.identity },
        { type: 'ed25519-id', ed25519Identity: relay.ed25519Identity },
      ];
      sendOutbound(hop - 1, new Extend2(specs, HandshakeType.NTOR, hs.onionskin), 0, true);
      const got = takeInbound();
      if (!(got.msg instanceof Extended2) || got.hop !== hop - 1) throw new TelescopeError(`expected EXTENDED2 from hop ${hop}, got ${RelayCmd.nameOf(got.msg.command)} from hop ${got.hop + 1}`);
      client.addHop(tor1KeysFrom(hs.pending.finish(got.msg.handshakeData)));
      step(`EXTEND2 to hop ${hop + 1}`, true, `${relay.nickname} reached through ${hop} layer(s); EXTENDED2 came back from hop ${hop}`);
    }

    // A stream at the exit.
    sendOutbound(2, new Begin('example.com', 80), 1);
    const connected = takeInbound();
    const okConnected = connected.msg instanceof Connected && connected.hop === 2 && connected.streamId === 1;
    step('BEGIN / CONNECTED at hop 3', okConnected, `exit saw BEGIN ${(exit.received.at(-1) as Begin).addrPort}; CONNECTED on stream ${connected.streamId} from hop ${connected.hop + 1}`);

    const sentDigest = new Uint8Array(20);
    sendOutbound(2, new Data(utf8('GET / HTTP/1.0\r\n\r\n')), 1, false, sentDigest);
    const echoed = takeInbound();
    const okData = echoed.msg instanceof Data && echoed.hop === 2;
    step('DATA both ways', okData, `exit got ${(exit.received.at(-1) as Data).data.length} bytes; reply "${new TextDecoder().decode((echoed.msg as Data).data)}"`);

    // Authenticated SENDME: the exit echoes the digest of the cell it received; it must be the one we sent.
    const [exitCircId, exitCirc] = exit.soleCircuit();
    exit.reply(exitCircId, exitCirc, 0, Sendme.v1(exit.lastDigest));
    const sendme = takeInbound();
    const okSendme = sendme.msg instanceof Sendme && equalBytes((sendme.msg as Sendme).digest ?? new Uint8Array(0), sentDigest);
    step('SENDME v1 digest', okSendme, `exit acknowledged digest ${toHex(sentDigest).slice(0, 16)}…, matching what the client recorded`);

    // Leaky pipe: a DROP addressed to the middle hop stops there.
    const before = exit.received.length;
    sendOutbound(1, new Drop(new Uint8Array(16)));
    const okDrop = middle.received.at(-1) instanceof Drop && exit.received.length === before;
    step('leaky pipe (DROP to hop 2)', okDrop, 'the middle relay recognized the cell; the exit never saw it');

    // Tampering: one bit flipped on the wire makes the cell unrecognizable, and the client refuses it.
    exit.reply(exitCircId, exitCirc, 1, new Data(utf8('tamper me')));
    const cell = inbox.shift()!;
    cell.body[200]! ^= 0x10;
    inbox.unshift(cell);
    let refused = false;
    try {
      takeInbound();
    } catch (e) {
      if (!(e instanceof RelayCryptoError)) throw e;
      refused = true;
    }
    step('tampered cell refused', refused, refused ? 'RelayCryptoError: the circuit would be torn down with DESTROY' : 'a tampered cell was accepted');
    const destroy = new Destroy(DestroyReason.PROTOCOL);
    step('DESTROY', decodeChanMsg(ChanCmd.DESTROY, overTheWire({ circId, command: ChanCmd.DESTROY, body: destroy.encode() }).body) instanceof Destroy, `reason ${DestroyReason.nameOf(destroy.reason)}`);
  } catch (e) {
    step('unexpected failure', false, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
  return { ok: steps.every((s) => s.ok), steps };
}
