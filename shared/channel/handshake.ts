import { ChanCmd, encodeCell, AuthChallenge, AuthMethod, Authenticate, Netinfo, Versions, CertsCell, type ChannelCell, type TorAddress } from '../cells/index.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { verifyResponderCerts, type ExpectedRelayIdentity, type VerifiedResponderIdentity } from '../crypto/index.ts';
import { HandshakeError, ProtocolError } from '../util/index.ts';

/**
 * The initiator's side of the link handshake (tor-spec "Negotiating and initializing channels"),
 * as a state machine without I/O: feed it the cells that arrive, send the cells it returns.
 *
 *   send VERSIONS → recv VERSIONS → recv CERTS → recv AUTH_CHALLENGE (ignored by a client)
 *   → recv NETINFO → send NETINFO → open
 *
 * A client does not authenticate itself, so it sends no CERTS/AUTHENTICATE. The responder's
 * identity is proven by its CERTS cell (and, on TLS, by the certificate digest it certifies).
 */

export const SUPPORTED_LINK_VERSIONS: readonly number[] = [4, 5];

/**
 * How a relay proves its identity when it opens a link (tor-spec "Link authentication type 3"):
 * its CERTS cell (types 2, 4, 6, 7) and an AUTHENTICATE body signed over the handshake transcript.
 * Clients have none: they stay anonymous to the relay.
 */
export interface LinkAuthenticator {
  readonly certsBody: Uint8Array;
  /** The AUTHENTICATE cell body for this transcript (SLOG/CLOG are SHA-256 of the exact bytes). */
  authenticate(transcript: { slog: Uint8Array; clog: Uint8Array; responder: VerifiedResponderIdentity }): { authType: number; body: Uint8Array };
}

export interface LinkHandshakeOptions {
  readonly expected?: ExpectedRelayIdentity;
  /** Set when we are a relay opening a link: we then answer AUTH_CHALLENGE with AUTHENTICATE. */
  readonly authenticator?: LinkAuthenticator;
  readonly now: () => Date;
  readonly peerTlsCertificate?: Uint8Array;
  /** The address we connected to, for our NETINFO "other address". */
  readonly peerAddress?: TorAddress;
}

export interface OpenedLink {
  readonly linkVersion: number;
  readonly identity: VerifiedResponderIdentity;
  /** The responder's clock (NETINFO), for skew warnings. */
  readonly peerTime: Date;
  /** The responder's idea of our address. */
  readonly ourAddressSeenByPeer: TorAddress;
  readonly peerAddresses: readonly TorAddress[];
}

type State = 'await-versions' | 'await-certs' | 'await-auth-challenge-or-netinfo' | 'open';

export class LinkHandshakeInitiator {
  private state: State = 'await-versions';
  private linkVersion = 0;
  private identity: VerifiedResponderIdentity | undefined;
  /** Exact bytes of the handshake so far, for AUTHENTICATE's SLOG (theirs) and CLOG (ours). */
  private readonly theirBytes: Uint8Array[] = [];
  private readonly ourBytes: Uint8Array[] = [];
  private slog: Uint8Array | undefined;
  private authRequested = false;

  constructor(private readonly opts: LinkHandshakeOptions) {}

  /** The first cell: VERSIONS, framed with 2-byte circuit ids (link version 0). */
  start(): ChannelCell {
    const cell = { circId: 0, command: ChanCmd.VERSIONS, body: new Versions(SUPPORTED_LINK_VERSIONS).encode() };
    this.ourBytes.push(encodeCell(cell, 0));
    return cell;
  }

  /** The link version to frame further cells with (0 until VERSIONS arrived). */
  get version(): number {
    return this.linkVersion;
  }

  /**
   * Process one cell. Returns the cells to send and, once the handshake completes, the open link.
   * Throws ProtocolError / HandshakeError / CertificateError: the connection must then be closed.
   */
  receive(cell: ChannelCell): { send: ChannelCell[]; opened?: OpenedLink } {
    // Padding may arrive at any point after VERSIONS; it carries nothing.
    if (this.state !== 'await-versions' && (cell.command === ChanCmd.PADDING || cell.command === ChanCmd.VPADDING)) return { send: [] };
    if (this.opts.authenticator && !this.slog) this.theirBytes.push(encodeCell(cell, cell.command === ChanCmd.VERSIONS ? 0 : this.linkVersion));
    switch (this.state) {
      case 'await-versions': {
        this.expect(cell, ChanCmd.VERSIONS);
        const best = Versions.decode(cell.body).bestCommon(SUPPORTED_LINK_VERSIONS);
        if (best === undefined) throw new HandshakeError('link', `no common link protocol version (we offer ${SUPPORTED_LINK_VERSIONS.join(', ')})`);
        this.linkVersion = best;
        this.state = 'await-certs';
        return { send: [] };
      }
      case 'await-certs': {
        this.expect(cell, ChanCmd.CERTS);
        this.identity = verifyResponderCerts({
          certs: CertsCell.decode(cell.body),
          now: this.opts.now(),
          ...(this.opts.expected ? { expected: this.opts.expected } : {}),
          ...(this.opts.peerTlsCertificate ? { peerTlsCertificate: this.opts.peerTlsCertificate } : {}),
        });
        this.state = 'await-auth-challenge-or-netinfo';
        return { send: [] };
      }
      case 'await-auth-challenge-or-netinfo': {
        if (cell.command === ChanCmd.AUTH_CHALLENGE) {
          const challenge = AuthChallenge.decode(cell.body); // a client does not authenticate
          if (this.opts.authenticator && challenge.methods.includes(AuthMethod.ED25519_SHA256_RFC5705)) {
            this.slog = transcriptDigest(this.theirBytes);
            this.authRequested = true;
          }
          return { send: [] };
        }
        this.expect(cell, ChanCmd.NETINFO);
        const netinfo = Netinfo.decode(cell.body);
        const identity = this.identity!;
        this.state = 'open';
        // Clients send a zero timestamp and no addresses of their own (tor-spec: avoids leaking
        // their clock and address); the "other address" is the relay's as we dialled it.
        const other: TorAddress = this.opts.peerAddress ?? { type: 'ipv4', bytes: new Uint8Array(4) };
        const ours = new Netinfo(0, other, []);
        const send: ChannelCell[] = [];
        const auth = this.opts.authenticator;
        if (auth && this.authRequested && this.slog) {
          // CERTS, then AUTHENTICATE over the transcript (CLOG ends with our CERTS), then NETINFO.
          const certs: ChannelCell = { circId: 0, command: ChanCmd.CERTS, body: auth.certsBody };
          this.ourBytes.push(encodeCell(certs, this.linkVersion));
          const { authType, body } = auth.authenticate({ slog: this.slog, clog: transcriptDigest(this.ourBytes), responder: identity });
          send.push(certs, { circId: 0, command: ChanCmd.AUTHENTICATE, body: new Authenticate(authType, body).encode() });
        }
        send.push({ circId: 0, command: ChanCmd.NETINFO, body: ours.encode() });
        return {
          send,
          opened: {
            linkVersion: this.linkVersion,
            identity,
            peerTime: new Date(netinfo.timestamp * 1000),
            ourAddressSeenByPeer: netinfo.otherAddress,
            peerAddresses: netinfo.myAddresses,
          },
        };
      }
      case 'open':
        throw new ProtocolError('link handshake', 'handshake already complete');
    }
  }

  private expect(cell: ChannelCell, command: number): void {
    if (cell.command !== command) {
      throw new ProtocolError('link handshake', `expected ${ChanCmd.nameOf(command)} in state ${this.state}, got ${ChanCmd.nameOf(cell.command)}`);
    }
  }
}

/** SHA-256 of handshake bytes in order: AUTHENTICATE's SLOG and CLOG, on either side of a link. */
export function transcriptDigest(parts: readonly Uint8Array[]): Uint8Array {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}
