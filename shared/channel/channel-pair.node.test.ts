import { describe, expect, it } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex } from '../bytes/index.ts';
import { ChanCmd, CellDecoder, encodeCell, Authenticate, CreateFast, Destroy, DestroyReason, Netinfo, Versions, type ChannelCell } from '../cells/index.ts';
import { ChannelError, HandshakeError, ProtocolError, TelescopeError, TimeoutError } from '../util/index.ts';
import { verifyInitiatorCerts, type VerifiedInitiatorIdentity } from '../crypto/index.ts';
import type { InitiatorAuthentication } from './responder.ts';
import { Channel, type CircuitEndpoint, type ChannelAcceptOptions } from './channel.ts';
import { LinkHandshakeInitiator, type LinkAuthenticator } from './handshake.ts';
import { MemoryTransport, type MemoryTransportOptions } from './memory-transport.ts';
import { RelayKeys } from '../../relay-bridge/relay/keys.ts';
import { makeTlsCredentials } from '../../relay-bridge/relay/tls-cert.ts';
import { LinkCertificates, authIdentityDigest, buildAuthenticate, checkAuthenticate } from '../../relay-bridge/relay/certs-cell.ts';

/**
 * Both ends of a channel in one process, over an in-memory transport pair that re-cuts the bytes
 * into random chunks: the initiator's handshake (Channel.open) against the responder's
 * (Channel.accept), with a real responder CERTS cell made by the relay-bridge's key layer (Node
 * crypto, hence *.node.test.ts).
 */

const now = new Date();
const relayKeys = RelayKeys.generate({ now });
const relayTls = makeTlsCredentials(relayKeys.identity, { now });
const relayLink = new LinkCertificates(relayKeys, relayTls);
const relayCerts = relayLink.responderCerts(now).encode();
const expected = { rsaIdentity: relayKeys.rsaIdentityDigest, ed25519Identity: relayKeys.ed25519Identity };

function acceptOptions(over: Partial<ChannelAcceptOptions> = {}): ChannelAcceptOptions {
  return {
    certsBody: relayCerts,
    challenge: globalThis.crypto.getRandomValues(new Uint8Array(32)),
    nowSeconds: () => Math.floor(Date.now() / 1000),
    peerAddress: { type: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 2) },
    myAddresses: [{ type: 'ipv4', bytes: Uint8Array.of(127, 0, 0, 1) }],
    ...over,
  };
}

async function openPair(opts: MemoryTransportOptions & { authenticator?: LinkAuthenticator; accept?: Partial<ChannelAcceptOptions> } = {}) {
  const [a, b] = MemoryTransport.pair(opts);
  const [client, relay] = await Promise.all([
    Channel.open(a, { expected, ...(opts.authenticator ? { authenticator: opts.authenticator } : {}) }),
    Channel.accept(b, acceptOptions(opts.accept)),
  ]);
  return { a, b, client, relay };
}

/** An endpoint that records what reaches it. */
class Recorder implements CircuitEndpoint {
  readonly cells: ChannelCell[] = [];
  closedWith: TelescopeError | undefined;
  private waiters: (() => void)[] = [];
  onCell(cell: ChannelCell): void {
    this.cells.push(cell);
    for (const w of this.waiters.splice(0)) w();
  }
  onChannelClosed(error: TelescopeError): void {
    this.closedWith = error;
    for (const w of this.waiters.splice(0)) w();
  }
  async until(pred: () => boolean, what = 'condition'): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }
}

const tick = (ms = 0) => new Promise<void>((resolve) => setTimeout(resolve, ms));
async function eventually(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

describe('Channel.open against Channel.accept over memory transports', () => {
  for (const chunking of [{ seed: 1 }, { seed: 7, maxChunk: 3 }, { seed: 3, maxChunk: 5000 }, { chunking: 'whole' as const }]) {
    it(`opens both sides (${JSON.stringify(chunking)})`, async () => {
      const { client, relay } = await openPair(chunking);
      expect(client.role).toBe('initiator');
      expect(relay.role).toBe('responder');
      expect(client.linkVersion).toBe(5);
      expect(relay.linkVersion).toBe(5);
      expect(client.peerIdentity.fingerprint).toBe(relayKeys.fingerprint);
      expect(client.peerIdentity.tlsCertChecked).toBe(false); // no TLS certificate on a memory transport
      expect(relay.link).toEqual({ linkVersion: 5, initiator: undefined });
      // The relay learns no identity from a client.
      expect(() => relay.peerIdentity).toThrow(ChannelError);
      expect(client.isOpen && relay.isOpen).toBe(true);
      client.close();
    });
  }

  it('circuit ids: the initiator sets the high bit, the responder clears it, neither uses 0', async () => {
    const { client, relay } = await openPair();
    const endpoint = new Recorder();
    for (let i = 0; i < 200; i++) {
      const c = client.registerCircuit(endpoint);
      const r = relay.registerCircuit(endpoint);
      expect(c & 0x80000000, c.toString(16)).not.toBe(0);
      expect(r & 0x80000000, r.toString(16)).toBe(0);
      expect(r).not.toBe(0);
      expect(client.hasCircuit(c) && relay.hasCircuit(r)).toBe(true);
    }
    expect(client.circuitCount).toBe(200);
    client.close();
  });

  it('circuit ids with a degenerate random source: ids are never 0 and never reused', async () => {
    const [a, b] = MemoryTransport.pair();
    const zeros = (n: number) => new Uint8Array(n);
    const [client, relay] = await Promise.all([Channel.open(a, { expected, random: zeros }), Channel.accept(b, { ...acceptOptions(), random: zeros })]);
    // All-zero randomness: the initiator gets 0x80000000 once, then has no free id; the responder never gets one.
    expect(client.registerCircuit(new Recorder())).toBe(0x80000000);
    expect(() => client.registerCircuit(new Recorder())).toThrow(ChannelError);
    expect(() => relay.registerCircuit(new Recorder())).toThrow(ChannelError);
    client.close();
  });

  it('routes cells to their circuit both ways, in order, however the bytes are chunked', async () => {
    const { client, relay } = await openPair({ seed: 42, maxChunk: 300 });
    const atClient = new Recorder();
    const atRelay = new Recorder();
    const id = client.registerCircuit(atClient);
    relay.adoptCircuit(id, atRelay);
    for (let i = 0; i < 50; i++) client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509).fill(i) });
    for (let i = 0; i < 30; i++) relay.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509).fill(100 + i) });
    await atRelay.until(() => atRelay.cells.length === 50, '50 cells at the relay');
    await atClient.until(() => atClient.cells.length === 30, '30 cells at the client');
    expect(atRelay.cells.map((c) => c.body[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(atClient.cells.map((c) => c.body[0])).toEqual(Array.from({ length: 30 }, (_, i) => 100 + i));
    for (const c of atRelay.cells) expect(c.circId).toBe(id);
    expect(client.bytesOut).toBe(50 * 514);
    expect(relay.bytesIn).toBe(50 * 514);
    client.close();
  });

  it('cells queued in one turn go out in one transport write', async () => {
    const { a, b, client, relay } = await openPair();
    const atRelay = new Recorder();
    const id = client.registerCircuit(new Recorder());
    relay.adoptCircuit(id, atRelay);
    const before = a.sendCalls;
    for (let i = 0; i < 16; i++) client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509) });
    expect(a.sendCalls).toBe(before); // nothing written synchronously
    await Promise.resolve();
    await Promise.resolve();
    expect(a.sendCalls).toBe(before + 1);
    expect(a.sent.at(-1)!.length).toBe(16 * 514);
    // A second turn makes a second write.
    client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509) });
    await atRelay.until(() => atRelay.cells.length === 17, '17 cells');
    expect(a.sendCalls).toBe(before + 2);
    // And the responder batches the same way.
    const beforeB = b.sendCalls;
    relay.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509) });
    relay.send({ circId: id, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.FINISHED).encode() });
    await tick();
    expect(b.sendCalls).toBe(beforeB + 1);
    client.close();
  });

  it('a CREATE right behind the initiator\'s NETINFO, in the same chunk, reaches onIncomingCircuit', async () => {
    // A hand-driven initiator, so that NETINFO and CREATE_FAST leave in one write (as tor does).
    const [a, b] = MemoryTransport.pair({ chunking: 'whole' });
    const accepted = Channel.accept(b, acceptOptions());
    const initiator = new LinkHandshakeInitiator({ now: () => new Date(), expected });
    const decoder = new CellDecoder(0);
    const createFast: ChannelCell = { circId: 0x80000123, command: ChanCmd.CREATE_FAST, body: new CreateFast(new Uint8Array(20).fill(7)).encode() };
    const openedHere = new Promise<void>((resolve, reject) => {
      a.onData = (data) => {
        try {
          for (let cells = decoder.push(data); cells.length > 0; cells = decoder.push(new Uint8Array(0))) {
            for (const cell of cells) {
              const { send, opened } = initiator.receive(cell);
              decoder.linkVersion = initiator.version;
              if (opened) {
                a.send(concatBytes(...send.map((c) => encodeCell(c, initiator.version)), encodeCell(createFast, initiator.version)));
                resolve();
              }
            }
          }
        } catch (e) {
          reject(e);
        }
      };
    });
    a.send(encodeCell(initiator.start(), 0));
    await openedHere;
    const relay = await accepted;
    const incoming: ChannelCell[] = [];
    // Set after the handshake resolved, as a relay does: the early cell must wait for it.
    relay.onIncomingCircuit = (cell, ch) => {
      expect(ch).toBe(relay);
      incoming.push(cell);
    };
    await eventually(() => incoming.length === 1, 'the CREATE_FAST');
    expect(incoming[0]!.command).toBe(ChanCmd.CREATE_FAST);
    expect(incoming[0]!.circId).toBe(0x80000123);
    expect(incoming[0]!.body.subarray(0, 20)).toEqual(new Uint8Array(20).fill(7));
    relay.close();
  });

  it('cells that arrive before the owner has seen the channel are held, in order, not dropped', async () => {
    const { client, relay } = await openPair({ chunking: 'whole' });
    const atRelay = new Recorder();
    const id = client.registerCircuit(new Recorder());
    relay.adoptCircuit(id, atRelay);
    for (let i = 0; i < 5; i++) client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509).fill(i) });
    await atRelay.until(() => atRelay.cells.length === 5, 'five cells');
    expect(atRelay.cells.map((c) => c.body[0])).toEqual([0, 1, 2, 3, 4]);
    client.close();
  });

  describe('an initiator that is a relay (LinkAuthenticator)', () => {
    // The initiator is another relay, with its own keys.
    const otherKeys = RelayKeys.generate({ now });
    const otherLink = new LinkCertificates(otherKeys, makeTlsCredentials(otherKeys.identity, { now }));
    /** No TLS here: an exporter value both sides agree on stands in for the TLS session's. */
    const tlsSecrets = new Uint8Array(32).fill(9);
    const cid = authIdentityDigest(otherKeys.identity.publicDer);

    function authenticator(transcripts: { slog: Uint8Array; clog: Uint8Array }[] = []): LinkAuthenticator {
      return {
        certsBody: otherLink.initiatorCerts(now).encode(),
        authenticate: ({ slog, clog, responder }) => {
          transcripts.push({ slog, clog });
          expect(responder.fingerprint).toBe(relayKeys.fingerprint);
          const cell = buildAuthenticate({
            cid, sid: authIdentityDigest(responder.rsaKey.der), cidEd: otherKeys.ed25519Identity, sidEd: responder.ed25519Identity,
            slog, clog, scert: responder.tlsCertDigest, tlsSecrets,
          }, otherLink.authKey(now).key);
          return { authType: cell.authType, body: cell.authentication };
        },
      };
    }

    /** The responder's check, as the relay-bridge makes it (there with the TLS exporter). */
    function verifier(secrets = tlsSecrets): (auth: InitiatorAuthentication) => VerifiedInitiatorIdentity {
      return (auth) => {
        const initiator = verifyInitiatorCerts(auth.certs, new Date());
        checkAuthenticate(auth.authenticate, {
          cid: authIdentityDigest(initiator.rsaKey.der), sid: authIdentityDigest(relayKeys.identity.publicDer),
          cidEd: initiator.ed25519Identity, sidEd: relayKeys.ed25519Identity,
          slog: auth.slog, clog: auth.clog, scert: sha256(relayTls.certDer), tlsSecrets: secrets,
        }, initiator.authKey);
        return initiator;
      };
    }

    it('sends CERTS + AUTHENTICATE over the real transcript; a verifying responder learns its identity', async () => {
      const transcripts: { slog: Uint8Array; clog: Uint8Array }[] = [];
      const { a, b, relay, client } = await openPair({ authenticator: authenticator(transcripts), accept: { verifyAuthenticate: verifier() } });
      expect(relay.link.linkVersion).toBe(5);
      const initiator = 'initiator' in relay.link ? relay.link.initiator : undefined;
      expect(initiator?.fingerprint).toBe(otherKeys.fingerprint);
      expect(toHex(initiator!.ed25519Identity)).toBe(toHex(otherKeys.ed25519Identity));
      // What went over the wire: VERSIONS, then CERTS, AUTHENTICATE, NETINFO (each its own write).
      const cmd = (bytes: Uint8Array, v: number) => new CellDecoder(v).push(bytes).map((c) => c.command);
      expect(cmd(a.sent[0]!, 0)).toEqual([ChanCmd.VERSIONS]);
      expect(cmd(a.sent[1]!, 5)).toEqual([ChanCmd.CERTS]);
      expect(cmd(a.sent[2]!, 5)).toEqual([ChanCmd.AUTHENTICATE]);
      expect(cmd(a.sent[3]!, 5)).toEqual([ChanCmd.NETINFO]);
      // SLOG covers what the responder sent up to AUTH_CHALLENGE; CLOG ours up to our CERTS.
      expect(cmd(b.sent[2]!, 5)).toEqual([ChanCmd.AUTH_CHALLENGE]);
      const slog = sha256(concatBytes(b.sent[0]!, b.sent[1]!, b.sent[2]!));
      const clog = sha256(concatBytes(a.sent[0]!, a.sent[1]!));
      expect(transcripts).toEqual([{ slog, clog }]);
      const auth = Authenticate.decode(new CellDecoder(5).push(a.sent[2]!)[0]!.body);
      expect(auth.authType).toBe(3);
      client.close();
    });

    it('without a verifier (a WebSocket listener) the authenticating initiator is a client', async () => {
      const { relay, client } = await openPair({ authenticator: authenticator() });
      expect(relay.link).toEqual({ linkVersion: 5, initiator: undefined });
      client.close();
    });

    it('an AUTHENTICATE that does not verify fails the handshake on both sides', async () => {
      const [a, b] = MemoryTransport.pair();
      const opening = Channel.open(a, { expected, authenticator: authenticator() });
      const accepting = Channel.accept(b, acceptOptions({ verifyAuthenticate: verifier(new Uint8Array(32).fill(1)) }));
      const e = await accepting.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HandshakeError);
      expect((e as Error).message).toContain('TLSSECRETS');
      // The initiator had already opened its side; it sees the link drop.
      const client = await opening.catch((x: unknown) => x);
      if (client instanceof Channel) await eventually(() => !client.isOpen, 'the initiator to see the close');
      else expect(client).toBeInstanceOf(ChannelError);
    });
  });

  it('closing one side closes the circuits on both', async () => {
    const { client, relay } = await openPair();
    const atClient = new Recorder();
    const atRelay = new Recorder();
    const id = client.registerCircuit(atClient);
    relay.adoptCircuit(id, atRelay);
    const relayClosed: TelescopeError[] = [];
    relay.onClose((e) => relayClosed.push(e));
    client.close('closed for the test');
    // Our own circuits learn at once.
    expect(atClient.closedWith).toBeInstanceOf(ChannelError);
    expect(atClient.closedWith!.message).toContain('closed for the test');
    expect(client.isOpen).toBe(false);
    expect(() => client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509) })).toThrow(ChannelError);
    expect(() => client.registerCircuit(new Recorder())).toThrow(ChannelError);
    // The peer's, once the transport tells it.
    await atRelay.until(() => atRelay.closedWith !== undefined, 'the relay side to close');
    expect(atRelay.closedWith).toBeInstanceOf(ChannelError);
    expect(relay.isOpen).toBe(false);
    expect(relay.circuitCount).toBe(0);
    expect(relayClosed.length).toBe(1);
    // A listener added after the close hears about it at once.
    let late: TelescopeError | undefined;
    relay.onClose((e) => { late = e; });
    expect(late).toBe(relayClosed[0]);
  });

  it('cells the closing side queued in its last turn still reach the peer', async () => {
    const { client, relay } = await openPair();
    const atRelay = new Recorder();
    const id = client.registerCircuit(new Recorder());
    relay.adoptCircuit(id, atRelay);
    client.send({ circId: id, command: ChanCmd.DESTROY, body: new Destroy(DestroyReason.FINISHED).encode() });
    client.close();
    await atRelay.until(() => atRelay.closedWith !== undefined, 'close');
    expect(atRelay.cells.map((c) => c.command)).toEqual([ChanCmd.DESTROY]);
  });

  it('a transport error closes the channel with that error', async () => {
    const { a, client } = await openPair();
    const endpoint = new Recorder();
    client.registerCircuit(endpoint);
    a.fail(new Error('connection reset'));
    await endpoint.until(() => endpoint.closedWith !== undefined, 'close');
    expect(endpoint.closedWith!.message).toContain('connection reset');
  });

  it('a CREATE with no incoming-circuit handler is refused with DESTROY; cells for unknown circuits are dropped', async () => {
    const { client, relay } = await openPair();
    const endpoint = new Recorder();
    const id = client.registerCircuit(endpoint);
    client.send({ circId: 0x80000999, command: ChanCmd.RELAY, body: new Uint8Array(509) }); // unknown: dropped
    client.send({ circId: id, command: ChanCmd.CREATE_FAST, body: new CreateFast(new Uint8Array(20)).encode() });
    await endpoint.until(() => endpoint.cells.length === 1, 'DESTROY');
    expect(endpoint.cells[0]!.command).toBe(ChanCmd.DESTROY);
    expect(Destroy.decode(endpoint.cells[0]!.body).reason).toBe(DestroyReason.PROTOCOL);
    expect(relay.isOpen).toBe(true);
    client.close();
  });

  it('PADDING, VPADDING and PADDING_NEGOTIATE on an open channel are ignored', async () => {
    const { client, relay } = await openPair();
    const atRelay = new Recorder();
    const id = client.registerCircuit(new Recorder());
    relay.adoptCircuit(id, atRelay);
    client.send({ circId: 0, command: ChanCmd.PADDING, body: new Uint8Array(0) });
    client.send({ circId: 0, command: ChanCmd.VPADDING, body: new Uint8Array(33) });
    client.send({ circId: 0, command: ChanCmd.PADDING_NEGOTIATE, body: Uint8Array.of(0, 1, 0, 0, 0, 0) });
    client.send({ circId: id, command: ChanCmd.RELAY, body: new Uint8Array(509) });
    await atRelay.until(() => atRelay.cells.length === 1, 'the relay cell');
    expect(relay.isOpen).toBe(true);
    client.close();
  });

  it('a handshake cell on an open channel closes it', async () => {
    for (const command of [ChanCmd.VERSIONS, ChanCmd.NETINFO, ChanCmd.CERTS, ChanCmd.AUTH_CHALLENGE]) {
      const { client, relay } = await openPair();
      const atRelay = new Recorder();
      const id = client.registerCircuit(new Recorder());
      relay.adoptCircuit(id, atRelay);
      const body = command === ChanCmd.VERSIONS ? new Versions([5]).encode() : command === ChanCmd.NETINFO ? new Netinfo(0, { type: 'ipv4', bytes: new Uint8Array(4) }, []).encode() : new Uint8Array(0);
      client.send({ circId: 0, command, body });
      await atRelay.until(() => atRelay.closedWith !== undefined, `${ChanCmd.nameOf(command)} to close the channel`);
      expect(relay.isOpen, ChanCmd.nameOf(command)).toBe(false);
    }
  });

  it('the handshake fails with a typed error: garbage instead of VERSIONS, silence, an early close', async () => {
    {
      const [a, b] = MemoryTransport.pair();
      const accepted = Channel.accept(b, acceptOptions());
      a.send(Uint8Array.of(0, 0, 8, 1, 2, 3, 4, 5)); // NETINFO before VERSIONS
      await expect(accepted).rejects.toBeInstanceOf(ProtocolError);
      await eventually(() => b.isClosed, 'the transport to close');
    }
    {
      const [a] = MemoryTransport.pair();
      await expect(Channel.open(a, { expected, timeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
      expect(a.isClosed).toBe(true);
    }
    {
      const [a, b] = MemoryTransport.pair();
      const opening = Channel.open(a, { expected });
      b.close();
      await expect(opening).rejects.toBeInstanceOf(ChannelError);
    }
    {
      // A responder proving another identity than the one expected.
      const [a, b] = MemoryTransport.pair();
      const stranger = RelayKeys.generate({ now });
      const opening = Channel.open(a, { expected: { rsaIdentity: stranger.rsaIdentityDigest } });
      const accepting = Channel.accept(b, acceptOptions());
      await expect(opening).rejects.toBeInstanceOf(TelescopeError);
      await expect(accepting).rejects.toBeInstanceOf(ChannelError);
    }
  });
});
