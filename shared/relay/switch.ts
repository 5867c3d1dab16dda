import { ChanCmd } from '../cells/channel/command.ts';
import type { ChannelCell } from '../cells/channel/framing.ts';
import { Create2, CreatedFast, CreateFast, Created2, Destroy, DestroyReason, HandshakeType } from '../cells/channel/messages.ts';
import type { Channel } from '../channel/channel.ts';
import { tor1KeysFrom } from '../crypto/circuit-keys.ts';
import { createFastServerHandshake } from '../crypto/create-fast.ts';
import { ntorServerHandshake, type Curve25519, type NtorKeyPair } from '../crypto/ntor.ts';
import { RelayHopCrypto } from '../crypto/tor1.ts';
import type { AesCtrFactory } from '../crypto/aes-ctr.ts';
import { HandshakeError, ProtocolError } from '../errors.ts';
import { TokenBucket } from './token-bucket.ts';
import type { DosGuard } from './dos.ts';
import { RelayCircuit, type RelayCircuitServices } from './relay-circuit.ts';
import { UnexpectedErrors } from '../unexpected-errors.ts';

/**
 * The relay's circuit switch: answers CREATE2 (ntor) and CREATE_FAST on every channel it is given,
 * keeps the resulting circuits, and keeps the channels it serves from holding resources for
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
 * It is refused on WebSocket links: no Telescope client sends it there (the extension's bridge
 * lines carry the ntor key), and over a plain ws:// listener its keys would travel in the clear.
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
}

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
  readonly stats = { expiredCircuits: 0, idleChannelsClosed: 0, evictedForNewcomers: 0, refusedFull: 0, createFastRefused: 0 };

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
    this.channels.set(channel, { peer, isClient, owner, idleTimeoutMs, lastCircuitChange: this.now(), bucket: undefined });
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
    const refuse = (reason: number, why: string) => {
      this.opts.services.log.info(`refusing a circuit from ${channel.description}: ${why}`);
      channel.send({ circId: cell.circId, command: ChanCmd.DESTROY, body: new Destroy(reason).encode() });
    };
    const state = this.channels.get(channel);
    if (!state) return refuse(DestroyReason.INTERNAL, 'channel not attached');
    // tor-spec: circuit ids chosen by the peer must carry the peer's high-bit convention.
    const peerIsInitiator = channel.role === 'responder';
    if (cell.circId === 0 || ((cell.circId & 0x80000000) !== 0) !== peerIsInitiator) {
      refuse(DestroyReason.PROTOCOL, `circuit id ${cell.circId.toString(16)} has the wrong high bit`);
      return;
    }
    if (cell.command === ChanCmd.CREATE_FAST && state.peer.transport === 'websocket') {
      this.stats.createFastRefused++;
      refuse(DestroyReason.PROTOCOL, 'CREATE_FAST is not accepted over WebSocket (use CREATE2 with ntor)');
      return;
    }
    if (state.isClient) {
      // tor's order: the per-address defence sees every CREATE, then the channel's own rate.
      if (this.opts.dos && state.peer.address !== undefined && !this.opts.dos.admitCreate(state.peer.address)) {
        refuse(DestroyReason.RESOURCELIMIT, 'its address creates circuits too fast (DoS defence)');
        return;
      }
      const rate = this.opts.createRate ?? 100;
      if (rate > 0) {
        state.bucket ??= new TokenBucket({ rate, burst: 2 * rate, now: this.now });
        if (state.bucket.take(1) < 1) {
          refuse(DestroyReason.RESOURCELIMIT, 'too many CREATE cells per second');
          return;
        }
      }
    }
    if (this.circuits.size >= (this.opts.maxCircuits ?? 8192) && !this.makeRoomFor(state.owner)) {
      this.stats.refusedFull++;
      refuse(DestroyReason.RESOURCELIMIT, 'too many open circuits, and its side holds the most');
      return;
    }
    let keyMaterial: Uint8Array;
    let reply: ChannelCell;
    try {
      if (cell.command === ChanCmd.CREATE2) {
        const create = Create2.decode(cell.body);
        if (create.handshakeType !== HandshakeType.NTOR) {
          refuse(DestroyReason.PROTOCOL, `handshake type ${HandshakeType.nameOf(create.handshakeType)} is not supported`);
          return;
        }
        const r = ntorServerHandshake(create.handshakeData, { identity: this.opts.identity, onionKeys: this.opts.onionKeys() }, this.opts.curve ? { curve: this.opts.curve } : {});
        keyMaterial = r.keyMaterial;
        reply = { circId: cell.circId, command: ChanCmd.CREATED2, body: new Created2(r.reply).encode() };
      } else if (cell.command === ChanCmd.CREATE_FAST) {
        const create = CreateFast.decode(cell.body);
        const r = createFastServerHandshake(create.x);
        keyMaterial = r.keyMaterial;
        reply = { circId: cell.circId, command: ChanCmd.CREATED_FAST, body: new CreatedFast(r.y, r.kh).encode() };
      } else {
        // CREATE (TAP) is gone from tor 0.4.9.
        refuse(DestroyReason.PROTOCOL, 'TAP CREATE is not supported');
        return;
      }
    } catch (e) {
      if (!(e instanceof HandshakeError || e instanceof ProtocolError)) {
        // Not the peer's fault as far as we know, but only its circuit pays: counted, refused.
        (this.opts.services.unexpected ?? new UnexpectedErrors(this.opts.services.log)).record(`answering a CREATE from ${channel.description}, circuit refused (INTERNAL)`, e);
        refuse(DestroyReason.INTERNAL, 'internal error');
        return;
      }
      refuse(DestroyReason.PROTOCOL, e.message);
      return;
    }
    const circuit = new RelayCircuit(channel, cell.circId, new RelayHopCrypto(tor1KeysFrom(keyMaterial), this.opts.aes), this.services);
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
