import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex } from '../bytes/index.ts';
import { ChanCmd, Netinfo, Versions, Vpadding, type ChannelCell } from '../cells/index.ts';
import { CertificateError, HandshakeError, ProtocolError, TelescopeError } from '../util/index.ts';
import { LinkHandshakeInitiator, SUPPORTED_LINK_VERSIONS } from './handshake.ts';
import link from '../cells/fixtures/link.json';
import certsVec from '../crypto/fixtures/certs.json';
import { thrown } from '../testing/thrown.ts';

/** The real relay's CERTS cell verifies at this time (see crypto/link-certs.test.ts). */
const certsValidAt = new Date(certsVec.channel_verification_time);
const certsBody = fromHex(link.certs_cell_body_hex);
const rsaFingerprint = certsVec.derived.rsa_identity_fingerprint_sha1_of_pkcs1_der;

const cell = (command: number, body: Uint8Array = new Uint8Array(0)): ChannelCell => ({ circId: 0, command, body });
const versions = (...v: number[]) => cell(ChanCmd.VERSIONS, new Versions(v).encode());
const certs = () => cell(ChanCmd.CERTS, certsBody);
const authChallenge = () => cell(ChanCmd.AUTH_CHALLENGE, fromHex(link.AUTH_CHALLENGE_body_hex));
const relayTime = 1_601_143_280; // 2020-09-26T18:01:20Z
const netinfo = () =>
  cell(ChanCmd.NETINFO, new Netinfo(relayTime, { type: 'ipv4', bytes: Uint8Array.of(203, 0, 113, 7) }, [{ type: 'ipv4', bytes: Uint8Array.of(198, 51, 100, 1) }]).encode());

function initiator(now = certsValidAt): LinkHandshakeInitiator {
  return new LinkHandshakeInitiator({ now: () => now });
}

describe('LinkHandshakeInitiator', () => {
  it('starts with VERSIONS offering 4 and 5 on circuit id 0', () => {
    const h = initiator();
    const first = h.start();
    expect(first.circId).toBe(0);
    expect(first.command).toBe(ChanCmd.VERSIONS);
    expect(Versions.decode(first.body).versions).toEqual([4, 5]);
    expect(SUPPORTED_LINK_VERSIONS).toEqual([4, 5]);
    expect(h.version).toBe(0);
  });

  it('opens with the real CERTS cell, answering NETINFO with a zero timestamp', () => {
    const h = new LinkHandshakeInitiator({ now: () => certsValidAt, peerAddress: { type: 'ipv4', bytes: Uint8Array.of(198, 51, 100, 1) } });
    h.start();
    expect(h.receive(versions(3, 4, 5))).toEqual({ send: [] });
    expect(h.version).toBe(5);
    expect(h.receive(certs())).toEqual({ send: [] });
    expect(h.receive(authChallenge())).toEqual({ send: [] });
    const { send, opened } = h.receive(netinfo());
    expect(send.length).toBe(1);
    const reply = send[0]!;
    expect(reply.circId).toBe(0);
    expect(reply.command).toBe(ChanCmd.NETINFO);
    const ours = Netinfo.decode(reply.body);
    expect(ours.timestamp).toBe(0);
    expect(ours.otherAddress).toEqual({ type: 'ipv4', bytes: Uint8Array.of(198, 51, 100, 1) });
    expect(ours.myAddresses).toEqual([]);
    expect(opened).toBeDefined();
    expect(opened!.linkVersion).toBe(5);
    expect(opened!.identity.fingerprint).toBe(rsaFingerprint);
    expect(opened!.identity.tlsCertChecked).toBe(false);
    expect(opened!.peerTime.getTime()).toBe(relayTime * 1000);
    expect(opened!.ourAddressSeenByPeer).toEqual({ type: 'ipv4', bytes: Uint8Array.of(203, 0, 113, 7) });
    expect(opened!.peerAddresses).toEqual([{ type: 'ipv4', bytes: Uint8Array.of(198, 51, 100, 1) }]);
    // Nothing more is expected once open.
    expect(thrown(() => h.receive(netinfo()))).toBeInstanceOf(ProtocolError);
  });

  it('without a peer address, names 0.0.0.0 as the other address; AUTH_CHALLENGE is optional', () => {
    const h = initiator();
    h.receive(versions(4));
    expect(h.version).toBe(4);
    h.receive(certs());
    const { send, opened } = h.receive(netinfo());
    expect(Netinfo.decode(send[0]!.body).otherAddress).toEqual({ type: 'ipv4', bytes: new Uint8Array(4) });
    expect(opened!.linkVersion).toBe(4);
  });

  it('checks the expected identity and the TLS certificate', () => {
    const expected = { rsaIdentity: fromHex(rsaFingerprint), ed25519Identity: fromHex(certsVec.derived.ed25519_identity) };
    const ok = new LinkHandshakeInitiator({ now: () => certsValidAt, expected });
    ok.receive(versions(5));
    ok.receive(certs());
    expect(ok.receive(netinfo()).opened!.identity.fingerprint).toBe(rsaFingerprint);

    const wrong = new LinkHandshakeInitiator({ now: () => certsValidAt, expected: { rsaIdentity: new Uint8Array(20) } });
    wrong.receive(versions(5));
    expect(thrown(() => wrong.receive(certs()))).toBeInstanceOf(CertificateError);

    const tls = new LinkHandshakeInitiator({ now: () => certsValidAt, peerTlsCertificate: new Uint8Array(300).fill(1) });
    tls.receive(versions(5));
    expect(thrown(() => tls.receive(certs()))).toBeInstanceOf(CertificateError);
  });

  it('refuses the CERTS cell when its certificates are expired at `now`', () => {
    const h = initiator(new Date('2021-06-01T00:00:00Z'));
    h.receive(versions(5));
    expect(thrown(() => h.receive(certs()))).toBeInstanceOf(CertificateError);
  });

  it('fails with HandshakeError when there is no common version', () => {
    for (const offer of [[3], [1, 2, 3], [6, 7], []]) {
      const e = thrown(() => initiator().receive(versions(...offer)));
      expect(e, `offer ${offer.join(',')}`).toBeInstanceOf(HandshakeError);
      expect((e as HandshakeError).handshake).toBe('link');
    }
  });

  it('refuses cells out of order with ProtocolError', () => {
    const before: ChannelCell[][] = [
      [certs()], // CERTS before VERSIONS
      [netinfo()],
      [cell(ChanCmd.PADDING)], // padding is only allowed once versions are agreed
      [cell(ChanCmd.VPADDING)],
      [versions(5), netinfo()], // NETINFO before CERTS
      [versions(5), authChallenge()], // AUTH_CHALLENGE before CERTS
      [versions(5), versions(5)],
      [versions(5), certs(), certs()],
      [versions(5), certs(), versions(5)],
      [versions(5), certs(), cell(ChanCmd.CREATE2, new Uint8Array(509))],
    ];
    for (const cells of before) {
      const h = initiator();
      const last = cells.pop()!;
      for (const c of cells) h.receive(c);
      const e = thrown(() => h.receive(last));
      expect(e, `${ChanCmd.nameOf(last.command)} after ${cells.map((c) => ChanCmd.nameOf(c.command)).join(',')}`).toBeInstanceOf(ProtocolError);
    }
  });

  it('ignores PADDING and VPADDING after VERSIONS', () => {
    const h = initiator();
    h.receive(versions(5));
    expect(h.receive(cell(ChanCmd.PADDING, new Uint8Array(509)))).toEqual({ send: [] });
    expect(h.receive(cell(ChanCmd.VPADDING, Vpadding.ofLength(10).encode()))).toEqual({ send: [] });
    h.receive(certs());
    expect(h.receive(cell(ChanCmd.VPADDING, fromHex('FFFFFF')))).toEqual({ send: [] });
    h.receive(authChallenge());
    expect(h.receive(cell(ChanCmd.PADDING))).toEqual({ send: [] });
    expect(h.receive(netinfo()).opened).toBeDefined();
  });

  it('accepts more than one AUTH_CHALLENGE but refuses a malformed one', () => {
    const h = initiator();
    h.receive(versions(5));
    h.receive(certs());
    expect(h.receive(authChallenge())).toEqual({ send: [] });
    expect(h.receive(authChallenge())).toEqual({ send: [] });
    expect(thrown(() => h.receive(cell(ChanCmd.AUTH_CHALLENGE, new Uint8Array(10))))).toBeInstanceOf(ProtocolError);
  });

  it('refuses malformed VERSIONS, CERTS and NETINFO bodies with ProtocolError', () => {
    expect(thrown(() => initiator().receive(cell(ChanCmd.VERSIONS, Uint8Array.of(0, 4, 0))))).toBeInstanceOf(ProtocolError);
    const h = initiator();
    h.receive(versions(5));
    expect(thrown(() => h.receive(cell(ChanCmd.CERTS, certsBody.subarray(0, 100))))).toBeInstanceOf(TelescopeError);
    const n = initiator();
    n.receive(versions(5));
    n.receive(certs());
    expect(thrown(() => n.receive(cell(ChanCmd.NETINFO, Uint8Array.of(0, 0, 0, 1, 4, 4, 1))))).toBeInstanceOf(ProtocolError);
  });

  it('any sequence of random cells gives a TelescopeError or progress, never another exception (property)', () => {
    const command = fc.constantFrom(ChanCmd.VERSIONS, ChanCmd.CERTS, ChanCmd.AUTH_CHALLENGE, ChanCmd.NETINFO, ChanCmd.PADDING, ChanCmd.VPADDING, ChanCmd.RELAY, ChanCmd.CREATED2, 200);
    const randomCell = fc.tuple(command, fc.uint8Array({ maxLength: 600 })).map(([c, b]) => cell(c, b));
    const realCell = fc.constantFrom(versions(4, 5), versions(3), certs(), authChallenge(), netinfo(), cell(ChanCmd.PADDING));
    fc.assert(
      fc.property(fc.array(fc.oneof(randomCell, realCell), { maxLength: 8 }), (cells) => {
        const h = initiator();
        h.start();
        for (const c of cells) {
          try {
            const out = h.receive(c);
            for (const s of out.send) expect(s.command).toBe(ChanCmd.NETINFO);
          } catch (e) {
            expect(e).toBeInstanceOf(TelescopeError);
            return; // the connection would be closed here
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
