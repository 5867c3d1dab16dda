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
import { RelayCircuit, type RelayCircuitServices } from './relay-circuit.ts';
import { UnexpectedErrors } from '../unexpected-errors.ts';

/**
 * The relay's circuit switch: answers CREATE2 (ntor) and CREATE_FAST on every channel it is given,
 * and keeps the resulting circuits. Limits protect the relay, not the network: a cap on open
 * circuits and on CREATE cells per second per channel (a peer over it gets DESTROY
 * RESOURCELIMIT), so no peer can exhaust it.
 */

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
  /** CREATE cells per second per channel (burst twice that). */
  readonly createRate?: number;
  readonly now?: () => number;
}

export class RelaySwitch {
  private readonly circuits = new Set<RelayCircuit>();
  private readonly createBuckets = new WeakMap<Channel, TokenBucket>();
  private readonly services: RelayCircuitServices;
  /** Circuits opened since start, for status lines. */
  created = 0;

  constructor(private readonly opts: RelaySwitchOptions) {
    this.services = { ...opts.services, closed: (c) => this.circuits.delete(c) };
  }

  get openCircuits(): number {
    return this.circuits.size;
  }

  /** Serve circuits that the peer of `channel` creates through us. */
  attach(channel: Channel): void {
    channel.onIncomingCircuit = (cell, ch) => this.create(cell, ch);
  }

  private create(cell: ChannelCell, channel: Channel): void {
    const refuse = (reason: number, why: string) => {
      this.opts.services.log.info(`refusing a circuit from ${channel.description}: ${why}`);
      channel.send({ circId: cell.circId, command: ChanCmd.DESTROY, body: new Destroy(reason).encode() });
    };
    // tor-spec: circuit ids chosen by the peer must carry the peer's high-bit convention.
    const peerIsInitiator = channel.role === 'responder';
    if (cell.circId === 0 || ((cell.circId & 0x80000000) !== 0) !== peerIsInitiator) {
      refuse(DestroyReason.PROTOCOL, `circuit id ${cell.circId.toString(16)} has the wrong high bit`);
      return;
    }
    let bucket = this.createBuckets.get(channel);
    const rate = this.opts.createRate ?? 100;
    if (!bucket) {
      bucket = new TokenBucket({ rate, burst: 2 * rate, now: this.opts.now ?? Date.now });
      this.createBuckets.set(channel, bucket);
    }
    if (bucket.take(1) < 1) {
      refuse(DestroyReason.RESOURCELIMIT, 'too many CREATE cells per second');
      return;
    }
    if (this.circuits.size >= (this.opts.maxCircuits ?? 8192)) {
      refuse(DestroyReason.RESOURCELIMIT, 'too many open circuits');
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
    channel.adoptCircuit(cell.circId, circuit);
    this.circuits.add(circuit);
    this.created++;
    channel.send(reply);
  }

  /** Close every circuit (shutdown). */
  closeAll(): void {
    for (const c of [...this.circuits]) c.destroy(DestroyReason.HIBERNATING);
  }
}

