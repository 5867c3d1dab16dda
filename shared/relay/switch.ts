import { ChanCmd, Create2, CreatedFast, CreateFast, Created2, Destroy, DestroyReason, HandshakeType, type ChannelCell } from '../cells/index.ts';
import type { Channel } from '../channel/index.ts';
import { findServerHandshake, RelayHopCrypto, type HopKeyMaterial, type Curve25519, type NtorKeyPair, type RelayHandshakeKeys, type AesCtrFactory } from '../crypto/index.ts';
import { HandshakeError, ProtocolError, TokenBucket, UnexpectedErrors } from '../util/index.ts';
import type { DosGuard } from './dos.ts';
import { RelayCircuit, type RelayCircuitServices } from './relay-circuit.ts';

/**
 * The relay's circuit switch: answers CREATE2 (ntor) and CREATE_FAST on every channel it is given,
 * with the handshakes crypto/server-handshakes.ts registers, keeps the resulting circuits, and keeps the channels it serves from holding resources for
 * nothing. Limits protect the relay and target whoever overuses it, never the next comer:
 *
 * - tor's circuit-creation DoS defence per client address (dos.ts): an address over its rate
 *   gets DESTROY RESOURCELIMIT for the defence period;
 * - CREATE cells per second per client channel (CreateRateLimit), since tor's defence only starts
 *   at DoSCircuitCreationMinConnections connections and one connection could otherwise create
 *   circuits as fast as it can send;
 * - a cap on open circuits (MaxCircuits). When the table is full, the newcomer is not refused
 *   because someone else filled it: the owner holding the most circuits (a client address, or a
 *   relay) gives up its longest-idle one, and only an owner that already holds the most is refused;
 * - circuits from clients that end here, with no streams, idle for a minute are closed (tor's
 *   circuit_expire_old_circuits_serverside);
 * - channels without circuits are closed after tor's idle timeouts (channelpadding.c: 3 to 4.5
 *   minutes for clients, 45 to 75 minutes for relays).
 *
 * CREATE_FAST: tor 0.4.9 relays still answer it (tor clients send it to a bridge whose onion key
 * they do not know yet, to fetch its descriptor, and so does Telescope's Node client for a plain
 * `Bridge` line), so it is answered on TLS links, and counts against the same limits as CREATE2.
 * It is not accepted on WebSocket links: no Telescope client sends it there (the extension's
 * bridge lines carry the ntor key), and over a plain ws:// listener its keys would travel in the
 * clear.
 *
 * Refusing must cost less than what it refuses (a flood of refused CREATEs once took a whole core):
 *
 * - a CREATE that only a hostile or broken peer sends on its link — CREATE_FAST over WebSocket, a
 *   circuit id with the wrong high bit, or 0 — is a violation of the link protocol: the link is
 *   closed, once, instead of answering each such cell with a DESTROY (tor answers DESTROY and
 *   carries on; a peer that breaks the link protocol gets nothing more from this relay);
 * - a client link refused for its rate (DoS mark, CreateRateLimit, or holding the most of a full
 *   table) gets DESTROY RESOURCELIMIT as in tor, up to REFUSED_CREATE_BURST refusals and then
 *   REFUSED_CREATE_RATE a second; a link that goes on faster ignores what it is told and is
 *   closed. Its address, marked, then cannot connect again while the mark lasts (dos.ts). A
 *   client behind the same NAT address is not hurt by this beyond what the mark itself does: its
 *   own links stay open unless they too keep creating after refusals (an honest client retries a
 *   refused circuit now and then, not hundreds of times a second), and a new connection from a
 *   marked address could not have created a circuit anyway. Pausing the link instead was the
 *   other choice: it would keep the socket and its buffers for the abuser, and on resume the
 *   relay would read the flood it had buffered meanwhile;
 * - nothing is logged per refused cell: refusals are counted (`stats`), and the host prints the
 *   counts in its status lines, never an address.
 *
 * Clients' addresses are handed in by the host (`attach`), used as keys of the DoS tables, and
 * never logged or put into descriptions.
 */

/** Who is on the other end of a channel, as the host saw the connection. */
export interface ChannelPeer {
  /** The peer's IP address, for the per-address defences; absent when unknown. Never logged. */
  readonly address?: string;
  /** How it reached us; 'websocket' links get no CREATE_FAST. */
  readonly transport?: 'websocket' | 'tls';
}

export interface RelaySwitchOptions {
  /** 20-byte RSA identity digest (ntor binds the handshake to it). */
  readonly identity: Uint8Array;
  /** Current and still-accepted previous onion keys. */
  readonly onionKeys: () => readonly NtorKeyPair[];
  readonly services: Omit<RelayCircuitServices, 'closed'>;
  readonly aes?: AesCtrFactory;
  /** Curve25519 engine for ntor (node:crypto in the Node host). */
  readonly curve?: Curve25519;
  readonly maxCircuits?: number;
  /** CREATE cells per second per client channel (burst twice that); 0: no limit. Default 100. */
  readonly createRate?: number;
  /** tor's per-address defences; absent: none. */
  readonly dos?: DosGuard;
  /**
   * Whether an authenticated peer is a relay the consensus lists. A channel is a client's unless
   * its peer authenticated as such a relay (throwaway relay keys do not make a client a relay).
   * Absent: every authenticated peer counts as a relay.
   */
  readonly isKnownRelay?: (fingerprint: string) => boolean;
  /** Idle circuits from clients that end here are closed after this (default 60 s, as tor). */
  readonly circuitIdleTimeoutMs?: number;
  /** Milliseconds. */
  readonly now?: () => number;
  /** A uniform integer in [0, n), for the randomized channel idle timeouts. */
  readonly randomInt?: (n: number) => number;
}

/**
 * Refused CREATE cells a client link may receive at once before it is closed for ignoring them,
 * then per second (see the class comment). A client that retries a refused circuit a few times
 * stays far below; a flood from one link passes the burst within one read.
 */
export const REFUSED_CREATE_BURST = 32;
export const REFUSED_CREATE_RATE = 1;

/** tor's IDLE_ONE_HOP_CIRC_TIMEOUT (circuituse.c). */
export const CIRCUIT_IDLE_TIMEOUT_MS = 60_000;
/** tor's channel idle timeouts (channelpadding.c): base, plus a random part of up to half of it. */
export const CLIENT_CHANNEL_IDLE_BASE_MS = 180_000;
/** tor: nf_conntimeout_relays (default 3600 s) ± 25%. */
export const RELAY_CHANNEL_IDLE_BASE_MS = 3600_000;

interface ChannelState {
  readonly peer: ChannelPeer;
  readonly isClient: boolean;
  /** Whose circuits these are, for MaxCircuits fairness. */
  readonly owner: string;
  readonly idleTimeoutMs: number;
  /** Last time a circuit opened or closed on it (or it was attached). */
  lastCircuitChange: number;
  bucket: TokenBucket | undefined;
  /** Refusals left before the link is closed for flooding (REFUSED_CREATE_*), made at the first. */
  refusals: TokenBucket | undefined;
}

/** Why a CREATE was answered with DESTROY RESOURCELIMIT. */
type RateRefusal = 'dos' | 'rate' | 'full';

interface CircuitState {
  readonly channel: Channel;
  readonly channelState: ChannelState;
  /** Last cell from the client side. */
  lastCell: number;
}

export class RelaySwitch {
  private readonly circuits = new Map<RelayCircuit, CircuitState>();
  private readonly channels = new Map<Channel, ChannelState>();
  /** Circuits by owner (client address, relay fingerprint or channel). */
  private readonly owners = new Map<string, Set<RelayCircuit>>();
  private readonly services: RelayCircuitServices;
  private readonly now: () => number;
  private readonly randomInt: (n: number) => number;
  private channelSerial = 0;
  /** Circuits opened since start, for status lines. */
  created = 0;
  /** What the limits did, for heartbeat lines and tests. */
  readonly stats = {
    expiredCircuits: 0,
    idleChannelsClosed: 0,
    evictedForNewcomers: 0,
    /** CREATEs refused RESOURCELIMIT because the table was full and their side held the most. */
    refusedFull: 0,
    /** ... because their address is marked by the DoS defence. */
    refusedDos: 0,
    /** ... because their link went over CreateRateLimit. */
    refusedRate: 0,
    /** CREATEs answered DESTROY PROTOCOL (a handshake that failed, TAP, an unknown handshake type). */
    refusedProtocol: 0,
    /** Links closed for a CREATE_FAST over WebSocket. */
    createFastRefused: 0,
    /** Links closed for breaking the link protocol (CREATE_FAST over WebSocket, a wrong circuit id). */
    linksClosedForProtocol: 0,
    /** Client links closed because they kept sending CREATEs past their refusals. */
    linksClosedForFlooding: 0,
  };

  constructor(private readonly opts: RelaySwitchOptions) {
    this.services = { ...opts.services, closed: (c) => this.forget(c) };
    this.now = opts.now ?? Date.now;
    this.randomInt = opts.randomInt ?? ((n) => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! % n);
  }

  get openCircuits(): number {
    return this.circuits.size;
  }

  /** Channels being served. */
  get openChannels(): number {
    return this.channels.size;
  }

  /** Serve circuits that the peer of `channel` creates through us. */
  attach(channel: Channel, peer: ChannelPeer = {}): void {
    const isClient = this.isClientChannel(channel);
    const fingerprint = 'initiator' in channel.link ? channel.link.initiator?.fingerprint : undefined;
    const owner = !isClient && fingerprint ? `relay ${fingerprint}` : peer.address !== undefined ? `address ${peer.address}` : `channel ${++this.channelSerial}`;
    const base = isClient ? CLIENT_CHANNEL_IDLE_BASE_MS : RELAY_CHANNEL_IDLE_BASE_MS;
    // tor: clients 180 s + up to 90 s; relays 75% of the base + up to 50% of it.
    const idleTimeoutMs = isClient ? base + this.randomInt(base / 2) : (3 * base) / 4 + this.randomInt(base / 2);
    this.channels.set(channel, { peer, isClient, owner, idleTimeoutMs, lastCircuitChange: this.now(), bucket: undefined, refusals: undefined });
    channel.onClose(() => this.channels.delete(channel));
    channel.onIncomingCircuit = (cell, ch) => this.create(cell, ch);
  }

  private isClientChannel(channel: Channel): boolean {
    if (!('initiator' in channel.link)) return false; // a channel we opened leads to a relay
    const initiator = channel.link.initiator;
    if (!initiator) return true;
    return this.opts.isKnownRelay ? !this.opts.isKnownRelay(initiator.fingerprint) : false;
  }

  private create(cell: ChannelCell, channel: Channel): void {
    const state = this.channels.get(channel);
    if (!state) return destroy(channel, cell.circId, DestroyReason.INTERNAL);
    // tor's order: the per-address defence hears of every CREATE from a client first, valid or not.
    const dos = this.opts.dos;
    const admitted = !state.isClient || !dos || state.peer.address === undefined || dos.admitCreate(state.peer.address);
    // tor-spec: circuit ids chosen by the peer must carry the peer's high-bit convention.
    const peerIsInitiator = channel.role === 'responder';
    if (cell.circId === 0 || ((cell.circId & 0x80000000) !== 0) !== peerIsInitiator) {
      return this.closeForProtocol(channel, `a CREATE on circuit id ${cell.circId.toString(16)} (0, or the wrong high bit for its side)`);
    }
    if (cell.command === ChanCmd.CREATE_FAST && state.peer.transport === 'websocket') {
      this.stats.createFastRefused++;
      return this.closeForProtocol(channel, 'CREATE_FAST over WebSocket (use CREATE2 with ntor)');
    }
    if (state.isClient) {
      if (!admitted) return this.refuseForRate(channel, state, cell.circId, 'dos');
      const rate = this.opts.createRate ?? 100;
      if (rate > 0) {
        state.bucket ??= new TokenBucket({ rate, burst: 2 * rate, now: this.now });
        if (state.bucket.take(1) < 1) return this.refuseForRate(channel, state, cell.circId, 'rate');
      }
    }
    if (this.circuits.size >= (this.opts.maxCircuits ?? 8192) && !this.makeRoomFor(state.owner)) {
      return this.refuseForRate(channel, state, cell.circId, 'full');
    }
    let keys: HopKeyMaterial;
    let reply: ChannelCell;
    try {
      if (cell.command === ChanCmd.CREATE2) {
        const create = Create2.decode(cell.body);
        // A type not registered (TAP, ntor-v3 until it is) or CREATE_FAST's, which has a cell of its own.
        const handshake = findServerHandshake(create.handshakeType);
        if (handshake?.carrier !== 'create2') {
          this.stats.refusedProtocol++;
          return destroy(channel, cell.circId, DestroyReason.PROTOCOL);
        }
        const r = handshake.respond(create.handshakeData, this.relayKeys());
        keys = r.keys;
        reply = { circId: cell.circId, command: ChanCmd.CREATED2, body: new Created2(r.reply).encode() };
      } else if (cell.command === ChanCmd.CREATE_FAST) {
        const create = CreateFast.decode(cell.body);
        const handshake = findServerHandshake(HandshakeType.FAST);
        if (handshake?.carrier !== 'create-fast') {
          this.stats.refusedProtocol++;
          return destroy(channel, cell.circId, DestroyReason.PROTOCOL);
        }
        const r = handshake.respond(create.x, this.relayKeys());
        keys = r.keys;
        reply = { circId: cell.circId, command: ChanCmd.CREATED_FAST, body: CreatedFast.decode(r.reply).encode() };
      } else {
        // CREATE (TAP) is gone from tor 0.4.9.
        this.stats.refusedProtocol++;
        return destroy(channel, cell.circId, DestroyReason.PROTOCOL);
      }
    } catch (e) {
      if (!(e instanceof HandshakeError || e instanceof ProtocolError)) {
        // Not the peer's fault as far as we know, but only its circuit pays: counted, refused.
        (this.opts.services.unexpected ?? new UnexpectedErrors(this.opts.services.log)).record(`answering a CREATE from ${channel.description}, circuit refused (INTERNAL)`, e);
        return destroy(channel, cell.circId, DestroyReason.INTERNAL);
      }
      // A bad onionskin (wrong key, bad point): the peer's fault, its circuit refused. At debug
      // (a client with a stale onion key shows here); the count is in the status line.
      this.stats.refusedProtocol++;
      this.opts.services.log.debug(`refusing a circuit from ${channel.description}: ${e.message}`);
      return destroy(channel, cell.circId, DestroyReason.PROTOCOL);
    }
    // The keys' kind (what the handshake negotiated) picks the relay-cell crypto.
    const circuit = new RelayCircuit(channel, cell.circId, new RelayHopCrypto(keys.keys, this.opts.aes), this.services, keys.negotiated);
    const now = this.now();
    const circuitState: CircuitState = { channel, channelState: state, lastCell: now };
    // Cells pass through here first, to know when the circuit was last used.
    channel.adoptCircuit(cell.circId, {
      onCell: (c) => {
        circuitState.lastCell = this.now();
        circuit.onCell(c);
      },
      onChannelClosed: () => circuit.onChannelClosed(),
    });
    this.circuits.set(circuit, circuitState);
    let owned = this.owners.get(state.owner);
    if (!owned) this.owners.set(state.owner, (owned = new Set()));
    owned.add(circuit);
    state.lastCircuitChange = now;
    this.created++;
    channel.send(reply);
  }

  /** What the handshakes answer with: the identity and onion keys of now (keys rotate), and the Curve25519 engine. */
  private relayKeys(): RelayHandshakeKeys {
    return { identity: this.opts.identity, onionKeys: this.opts.onionKeys(), curve: this.opts.curve };
  }

  /** The peer broke the link protocol: close its link (every circuit on it learns why). */
  private closeForProtocol(channel: Channel, why: string): void {
    this.stats.linksClosedForProtocol++;
    // Once per link (new links from one address are bounded by the connection defence).
    this.opts.services.log.info(`closing the link from ${channel.description}: protocol violation: ${why}`);
    channel.close(`closed: protocol violation: ${why}`);
  }

  /**
   * DESTROY RESOURCELIMIT for a CREATE over a limit, as tor answers; a client link that goes on
   * creating past REFUSED_CREATE_BURST refusals (refilled at REFUSED_CREATE_RATE a second) is
   * closed instead. Relays' links are never closed for this: they carry many clients' circuits.
   */
  private refuseForRate(channel: Channel, state: ChannelState, circId: number, why: RateRefusal): void {
    if (why === 'dos') this.stats.refusedDos++;
    else if (why === 'rate') this.stats.refusedRate++;
    else this.stats.refusedFull++;
    if (state.isClient) {
      state.refusals ??= new TokenBucket({ rate: REFUSED_CREATE_RATE, burst: REFUSED_CREATE_BURST, now: this.now });
      if (state.refusals.take(1) < 1) {
        this.stats.linksClosedForFlooding++;
        channel.close('closed: it kept sending CREATE cells after they were refused');
        return;
      }
    }
    destroy(channel, circId, DestroyReason.RESOURCELIMIT);
  }

  /**
   * The table is full: the owner holding the most circuits gives up its longest-idle one, unless
   * `owner` is (one of) those holding the most. Returns whether there is room now.
   */
  private makeRoomFor(owner: string): boolean {
    let top: Set<RelayCircuit> | undefined;
    for (const set of this.owners.values()) if (!top || set.size > top.size) top = set;
    const mine = this.owners.get(owner)?.size ?? 0;
    if (!top || top.size <= mine + 1) return false;
    let victim: RelayCircuit | undefined;
    let oldest = Infinity;
    for (const c of top) {
      const at = this.circuits.get(c)?.lastCell ?? 0;
      if (at < oldest) {
        oldest = at;
        victim = c;
      }
    }
    if (!victim) return false;
    this.stats.evictedForNewcomers++;
    victim.destroy(DestroyReason.RESOURCELIMIT);
    return this.circuits.size < (this.opts.maxCircuits ?? 8192);
  }

  private forget(circuit: RelayCircuit): void {
    const state = this.circuits.get(circuit);
    if (!state) return;
    this.circuits.delete(circuit);
    const owned = this.owners.get(state.channelState.owner);
    if (owned) {
      owned.delete(circuit);
      if (owned.size === 0) this.owners.delete(state.channelState.owner);
    }
    state.channelState.lastCircuitChange = this.now();
  }

  /**
   * Periodic upkeep (the host calls it every few seconds): close client circuits that end here,
   * carry no stream and have been idle past the cutoff, then channels that have had no circuit
   * for their idle timeout.
   */
  housekeeping(): void {
    const now = this.now();
    const cutoff = now - (this.opts.circuitIdleTimeoutMs ?? CIRCUIT_IDLE_TIMEOUT_MS);
    for (const [circuit, state] of [...this.circuits]) {
      if (state.channelState.isClient && !circuit.isExtended && circuit.streamCount === 0 && state.lastCell <= cutoff) {
        this.stats.expiredCircuits++;
        circuit.destroy(DestroyReason.FINISHED);
      }
    }
    for (const [channel, state] of [...this.channels]) {
      if (channel.circuitCount === 0 && now - state.lastCircuitChange >= state.idleTimeoutMs) {
        this.stats.idleChannelsClosed++;
        channel.close('closed: idle without circuits');
      }
    }
  }

  /** Close every circuit (shutdown). */
  closeAll(): void {
    for (const c of [...this.circuits.keys()]) c.destroy(DestroyReason.HIBERNATING);
  }
}

/** DESTROY bodies by reason, encoded once: refusals are the path a flood drives. */
const destroyBodies = new Map<number, Uint8Array>();

/** Answer a CREATE with DESTROY `reason` (nothing logged: the callers count). */
function destroy(channel: Channel, circId: number, reason: number): void {
  let body = destroyBodies.get(reason);
  if (!body) destroyBodies.set(reason, (body = new Destroy(reason).encode()));
  channel.send({ circId, command: ChanCmd.DESTROY, body });
}
