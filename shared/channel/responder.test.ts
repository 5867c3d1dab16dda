import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex } from '../bytes/index.ts';
import { ChanCmd, encodeCell, AuthChallenge, AuthMethod, Authenticate, Netinfo, Versions, Vpadding, CertsCell, type ChannelCell, type TorAddress } from '../cells/index.ts';
import { HandshakeError, ProtocolError, TelescopeError } from '../util/index.ts';
import { LinkHandshakeResponder, type InitiatorAuthentication, type LinkHandshakeResponderOptions } from './responder.ts';
import type { VerifiedInitiatorIdentity } from '../crypto/index.ts';
import { LinkHandshakeInitiator } from './handshake.ts';
import link from '../cells/fixtures/link.json';
import certsVec from '../crypto/fixtures/certs.json';
import { thrown } from '../testing/thrown.ts';

/**
 * The responder's half of the link handshake, as a pure state machine. The CERTS body it sends is
 * a real tor relay's (fixtures), so its answer can also be fed to our own initiator, which checks
 * the certificates at the time they were valid.
 */

const certsBody = fromHex(link.certs_cell_body_hex);
const certsValidAt = new Date(certsVec.channel_verification_time);
const challenge = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const clientAddress: TorAddress = { type: 'ipv4', bytes: Uint8Array.of(203, 0, 113, 9) };
const relayAddresses: TorAddress[] = [
  { type: 'ipv4', bytes: Uint8Array.of(198, 51, 100, 1) },
  { type: 'ipv6', bytes: Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i)) },
];
const NOW = 1_700_000_000;

function responder(over: Partial<LinkHandshakeResponderOptions> = {}): LinkHandshakeResponder {
  return new LinkHandshakeResponder({ certsBody, challenge, nowSeconds: () => NOW, peerAddress: clientAddress, myAddresses: relayAddresses, ...over });
}

const cell = (command: number, body: Uint8Array = new Uint8Array(0)): ChannelCell => ({ circId: 0, command, body });
const versions = (...v: number[]) => cell(ChanCmd.VERSIONS, new Versions(v).encode());
/** A client's NETINFO: zero timestamp, the relay's address, none of its own. */
const clientNetinfo = () => cell(ChanCmd.NETINFO, new Netinfo(0, relayAddresses[0]!, []).encode());
/** What an authenticating relay sends; only the shape matters here (verification is the host's verifyAuthenticate). */
const initiatorCerts = () => cell(ChanCmd.CERTS, new CertsCell([{ type: 2, body: Uint8Array.of(1, 2, 3) }, { type: 7, body: Uint8Array.of(4) }]).encode());
const authenticate = () => cell(ChanCmd.AUTHENTICATE, new Authenticate(AuthMethod.ED25519_SHA256_RFC5705, new Uint8Array(352)).encode());

describe('LinkHandshakeResponder', () => {
  it('answers VERSIONS with VERSIONS, CERTS, AUTH_CHALLENGE and NETINFO', () => {
    const r = responder();
    expect(r.version).toBe(0);
    const { send, opened } = r.receive(versions(3, 4, 5));
    expect(opened).toBeUndefined();
    expect(r.version).toBe(5);
    expect(send.map((c) => c.command)).toEqual([ChanCmd.VERSIONS, ChanCmd.CERTS, ChanCmd.AUTH_CHALLENGE, ChanCmd.NETINFO]);
    for (const c of send) expect(c.circId).toBe(0);
    const [v, certs, auth, netinfo] = send as [ChannelCell, ChannelCell, ChannelCell, ChannelCell];
    expect(Versions.decode(v.body).versions).toEqual([4, 5]);
    // The CERTS body goes out exactly as given.
    expect(certs.body).toEqual(certsBody);
    const ac = AuthChallenge.decode(auth.body);
    expect(ac.challenge).toEqual(challenge);
    expect(ac.methods).toEqual([AuthMethod.ED25519_SHA256_RFC5705]);
    const ni = Netinfo.decode(netinfo.body);
    expect(ni.timestamp).toBe(NOW);
    expect(ni.otherAddress).toEqual(clientAddress);
    expect(ni.myAddresses).toEqual(relayAddresses);
  });

  it('picks the highest common version', () => {
    const four = responder();
    four.receive(versions(3, 4));
    expect(four.version).toBe(4);
    const five = responder();
    five.receive(versions(5, 4, 6, 7));
    expect(five.version).toBe(5);
  });

  it('reads the clock when it answers, not when it is made', () => {
    let t = 100;
    const r = responder({ nowSeconds: () => t });
    t = 12345;
    const { send } = r.receive(versions(4, 5));
    expect(Netinfo.decode(send[3]!.body).timestamp).toBe(12345);
  });

  it('is opened by a client\'s NETINFO (no initiator identity)', () => {
    const r = responder();
    r.receive(versions(4, 5));
    const { send, opened } = r.receive(clientNetinfo());
    expect(send).toEqual([]);
    expect(opened).toEqual({ linkVersion: 5, initiator: undefined });
  });

  it('without a verifier, CERTS + AUTHENTICATE + NETINFO open it, but the initiator stays a client', () => {
    const r = responder();
    r.receive(versions(4));
    expect(r.receive(initiatorCerts())).toEqual({ send: [] });
    expect(r.receive(authenticate())).toEqual({ send: [] });
    const { send, opened } = r.receive(clientNetinfo());
    expect(send).toEqual([]);
    expect(opened).toEqual({ linkVersion: 4, initiator: undefined });
  });

  it('with a verifier, an authenticating initiator is checked over the exact handshake transcript', () => {
    const seen: InitiatorAuthentication[] = [];
    const identity = { fingerprint: 'AB'.repeat(20) } as unknown as VerifiedInitiatorIdentity;
    const r = responder({ verifyAuthenticate: (auth) => { seen.push(auth); return identity; } });
    const theirVersions = versions(3, 4, 5);
    const { send } = r.receive(theirVersions);
    const certs = initiatorCerts();
    r.receive(certs);
    expect(seen).toEqual([]);
    const auth = authenticate();
    r.receive(auth);
    expect(seen.length).toBe(1);
    const got = seen[0]!;
    expect(got.certs.certs.map((c) => c.type)).toEqual([2, 7]);
    expect(got.authenticate.authType).toBe(AuthMethod.ED25519_SHA256_RFC5705);
    expect(got.authenticate.authentication).toEqual(Authenticate.decode(auth.body).authentication);
    // SLOG: our VERSIONS (2-byte ids), CERTS and AUTH_CHALLENGE, not NETINFO; CLOG: their VERSIONS and CERTS.
    const [v, c, a] = send as [ChannelCell, ChannelCell, ChannelCell];
    expect(toHex(got.slog)).toBe(toHex(sha256(concatBytes(encodeCell(v, 0), encodeCell(c, 5), encodeCell(a, 5)))));
    expect(toHex(got.clog)).toBe(toHex(sha256(concatBytes(encodeCell(theirVersions, 0), encodeCell(certs, 5)))));
    expect(r.receive(clientNetinfo()).opened).toEqual({ linkVersion: 5, initiator: identity });
  });

  it('a verifier that refuses fails the handshake with its error', () => {
    const r = responder({ verifyAuthenticate: () => { throw new HandshakeError('link authentication', 'AUTHENTICATE signature does not verify'); } });
    r.receive(versions(5));
    r.receive(initiatorCerts());
    const e = thrown(() => r.receive(authenticate()));
    expect(e).toBeInstanceOf(HandshakeError);
  });

  it('the verifier is not asked about a client that sends no AUTHENTICATE', () => {
    let calls = 0;
    const r = responder({ verifyAuthenticate: () => { calls++; throw new Error('not expected'); } });
    r.receive(versions(5));
    r.receive(initiatorCerts());
    expect(r.receive(clientNetinfo()).opened).toEqual({ linkVersion: 5, initiator: undefined });
    expect(calls).toBe(0);
  });

  it('fails with HandshakeError when there is no common version', () => {
    for (const offer of [[3], [1, 2, 3], [6, 7], []]) {
      const e = thrown(() => responder().receive(versions(...offer)));
      expect(e, `offer ${offer.join(',')}`).toBeInstanceOf(HandshakeError);
      expect((e as HandshakeError).handshake).toBe('link');
    }
  });

  it('refuses cells out of order with ProtocolError', () => {
    const sequences: ChannelCell[][] = [
      [clientNetinfo()], // NETINFO before VERSIONS
      [initiatorCerts()],
      [cell(ChanCmd.PADDING)], // padding only once versions are agreed
      [cell(ChanCmd.VPADDING)],
      [cell(ChanCmd.CREATE_FAST, new Uint8Array(509))],
      [versions(5), versions(5)],
      [versions(5), authenticate()], // AUTHENTICATE without CERTS
      [versions(5), initiatorCerts(), initiatorCerts()],
      [versions(5), initiatorCerts(), authenticate(), authenticate()],
      [versions(5), initiatorCerts(), authenticate(), initiatorCerts()],
      [versions(5), cell(ChanCmd.AUTH_CHALLENGE, fromHex(link.AUTH_CHALLENGE_body_hex))],
      [versions(5), cell(ChanCmd.CREATE2, new Uint8Array(509))],
      [versions(5), clientNetinfo(), clientNetinfo()], // nothing more once open
      [versions(5), clientNetinfo(), versions(5)],
    ];
    for (const cells of sequences) {
      const r = responder();
      const last = cells.pop()!;
      for (const c of cells) r.receive(c);
      const e = thrown(() => r.receive(last));
      expect(e, `${ChanCmd.nameOf(last.command)} after ${cells.map((c) => ChanCmd.nameOf(c.command)).join(',')}`).toBeInstanceOf(ProtocolError);
    }
  });

  it('ignores PADDING and VPADDING once VERSIONS has arrived', () => {
    const r = responder();
    r.receive(versions(5));
    expect(r.receive(cell(ChanCmd.PADDING, new Uint8Array(509)))).toEqual({ send: [] });
    expect(r.receive(cell(ChanCmd.VPADDING, Vpadding.ofLength(7).encode()))).toEqual({ send: [] });
    r.receive(initiatorCerts());
    expect(r.receive(cell(ChanCmd.VPADDING))).toEqual({ send: [] });
    r.receive(authenticate());
    expect(r.receive(cell(ChanCmd.PADDING))).toEqual({ send: [] });
    expect(r.receive(clientNetinfo()).opened).toEqual({ linkVersion: 5, initiator: undefined });
  });

  it('refuses malformed VERSIONS, CERTS, AUTHENTICATE and NETINFO bodies with ProtocolError', () => {
    expect(thrown(() => responder().receive(cell(ChanCmd.VERSIONS, Uint8Array.of(0, 4, 0))))).toBeInstanceOf(ProtocolError);
    const c = responder();
    c.receive(versions(5));
    expect(thrown(() => c.receive(cell(ChanCmd.CERTS, Uint8Array.of(2, 1, 0, 9, 0))))).toBeInstanceOf(ProtocolError);
    const a = responder();
    a.receive(versions(5));
    a.receive(initiatorCerts());
    expect(thrown(() => a.receive(cell(ChanCmd.AUTHENTICATE, Uint8Array.of(0, 3, 0, 10, 1))))).toBeInstanceOf(ProtocolError);
    const n = responder();
    n.receive(versions(5));
    expect(thrown(() => n.receive(cell(ChanCmd.NETINFO, Uint8Array.of(0, 0, 0, 1, 4, 4, 1))))).toBeInstanceOf(ProtocolError);
  });

  it('its answer opens our own initiator, which then answers with the NETINFO that opens the responder', () => {
    const r = responder();
    const i = new LinkHandshakeInitiator({ now: () => certsValidAt });
    const first = r.receive(i.start());
    let reply: ChannelCell[] = [];
    for (const c of first.send) {
      const out = i.receive(c);
      if (out.opened) {
        expect(out.opened.linkVersion).toBe(5);
        expect(out.opened.identity.fingerprint).toBe(certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der);
        expect(out.opened.peerTime.getTime()).toBe(NOW * 1000);
        expect(out.opened.ourAddressSeenByPeer).toEqual(clientAddress);
        expect(out.opened.peerAddresses).toEqual(relayAddresses);
      }
      reply = out.send;
    }
    expect(reply.map((c) => c.command)).toEqual([ChanCmd.NETINFO]);
    expect(r.receive(reply[0]!).opened).toEqual({ linkVersion: 5, initiator: undefined });
  });

  it('random cells never throw anything but TelescopeError subclasses (property)', () => {
    const command = fc.constantFrom(
      ChanCmd.VERSIONS, ChanCmd.CERTS, ChanCmd.AUTHENTICATE, ChanCmd.AUTH_CHALLENGE, ChanCmd.NETINFO, ChanCmd.PADDING,
      ChanCmd.VPADDING, ChanCmd.RELAY, ChanCmd.CREATE2, ChanCmd.CREATE_FAST, 200,
    );
    const randomCell = fc.tuple(command, fc.uint8Array({ maxLength: 600 })).map(([c, b]) => cell(c, b));
    const realCell = fc.constantFrom(versions(4, 5), versions(3), versions(5), initiatorCerts(), authenticate(), clientNetinfo(), cell(ChanCmd.PADDING));
    fc.assert(
      fc.property(fc.array(fc.oneof(randomCell, realCell), { maxLength: 8 }), fc.constantFrom('none', 'accepts', 'refuses'), (cells, verifier) => {
        const identity = { fingerprint: '00'.repeat(20) } as unknown as VerifiedInitiatorIdentity;
        const r = responder(verifier === 'none' ? {} : {
          verifyAuthenticate: () => {
            if (verifier === 'refuses') throw new HandshakeError('link authentication', 'refused');
            return identity;
          },
        });
        let opened = false;
        for (const c of cells) {
          try {
            const out = r.receive(c);
            if (out.send.length > 0) expect(out.send.map((s) => s.command)).toEqual([ChanCmd.VERSIONS, ChanCmd.CERTS, ChanCmd.AUTH_CHALLENGE, ChanCmd.NETINFO]);
            if (out.opened) {
              expect(opened).toBe(false);
              opened = true;
              expect([4, 5]).toContain(out.opened.linkVersion);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(TelescopeError);
            return; // the connection would be closed here
          }
        }
      }),
      { numRuns: 400 },
    );
  });
});
