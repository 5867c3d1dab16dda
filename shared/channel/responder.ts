import { ChanCmd, encodeCell, AuthChallenge, AuthMethod, Authenticate, Netinfo, Versions, CertsCell, type ChannelCell, type TorAddress } from '../cells/index.ts';
import { HandshakeError, ProtocolError } from '../util/index.ts';
import type { VerifiedInitiatorIdentity } from '../crypto/index.ts';
import { SUPPORTED_LINK_VERSIONS, transcriptDigest } from './handshake.ts';

/**
 * The responder's side of the link handshake (tor-spec "Negotiating and initializing channels"),
 * as a state machine without I/O. A relay answers the initiator's VERSIONS with VERSIONS, CERTS
 * (its identity, proven to the initiator), AUTH_CHALLENGE and NETINFO, then waits for the
 * initiator's NETINFO. A client initiator sends only NETINFO; a relay initiator first sends CERTS
 * and AUTHENTICATE to prove its own identity.
 *
 * An initiator that authenticates is checked by the host's `verifyAuthenticate` (its CERTS chain,
 * and AUTHENTICATE over this handshake's transcript and the TLS session); only then is it treated
 * as a relay. Without a verifier (a WebSocket has no TLS exporter) every initiator is a client.
 */

/** The transcript and cells an initiator's AUTHENTICATE is checked against. */
export interface InitiatorAuthentication {
  readonly certs: CertsCell;
  readonly authenticate: Authenticate;
  /** SHA-256 of every byte we sent, from our VERSIONS through AUTH_CHALLENGE. */
  readonly slog: Uint8Array;
  /** SHA-256 of every byte the initiator sent, from its VERSIONS through its CERTS. */
  readonly clog: Uint8Array;
}

export interface LinkHandshakeResponderOptions {
  /** Our CERTS cell body (made by the relay's key layer for the TLS certificate in use). */
  readonly certsBody: Uint8Array;
  /** 32 fresh random bytes for AUTH_CHALLENGE. */
  readonly challenge: Uint8Array;
  /** Our clock, seconds since the epoch, for NETINFO. */
  readonly nowSeconds: () => number;
  /** The initiator's address as we see it (NETINFO "other address"); zero address when hidden. */
  readonly peerAddress: TorAddress;
  /** Our own advertised addresses. */
  readonly myAddresses: readonly TorAddress[];
  /** Check an authenticating initiator; throws (HandshakeError, CertificateError) if it fails. */
  readonly verifyAuthenticate?: (auth: InitiatorAuthentication) => VerifiedInitiatorIdentity;
}

export interface AcceptedLink {
  readonly linkVersion: number;
  /** The relay the initiator proved to be, when it authenticated and we could verify it. */
  readonly initiator: VerifiedInitiatorIdentity | undefined;
}

type State = 'await-versions' | 'await-netinfo' | 'open';

export class LinkHandshakeResponder {
  private state: State = 'await-versions';
  private linkVersion = 0;
  private initiatorCerts: CertsCell | undefined;
  private initiator: VerifiedInitiatorIdentity | undefined;
  private sawAuthenticate = false;
  /** Exact handshake bytes for the AUTHENTICATE transcript. */
  private readonly ours: Uint8Array[] = [];
  private readonly theirs: Uint8Array[] = [];

  constructor(private readonly opts: LinkHandshakeResponderOptions) {}

  get version(): number {
    return this.linkVersion;
  }

  receive(cell: ChannelCell): { send: ChannelCell[]; opened?: AcceptedLink } {
    if (this.state !== 'await-versions' && (cell.command === ChanCmd.PADDING || cell.command === ChanCmd.VPADDING)) return { send: [] };
    switch (this.state) {
      case 'await-versions': {
        if (cell.command !== ChanCmd.VERSIONS) throw new ProtocolError('link handshake', `expected VERSIONS first, got ${ChanCmd.nameOf(cell.command)}`);
        const best = Versions.decode(cell.body).bestCommon(SUPPORTED_LINK_VERSIONS);
        if (best === undefined) throw new HandshakeError('link', `no common link protocol version (we offer ${SUPPORTED_LINK_VERSIONS.join(', ')})`);
        this.linkVersion = best;
        this.state = 'await-netinfo';
        this.theirs.push(encodeCell(cell, 0));
        const send: ChannelCell[] = [
          // Our VERSIONS uses the pre-negotiation framing (2-byte circuit id); the caller frames it with version 0.
          { circId: 0, command: ChanCmd.VERSIONS, body: new Versions(SUPPORTED_LINK_VERSIONS).encode() },
          { circId: 0, command: ChanCmd.CERTS, body: this.opts.certsBody },
          { circId: 0, command: ChanCmd.AUTH_CHALLENGE, body: new AuthChallenge(this.opts.challenge, [AuthMethod.ED25519_SHA256_RFC5705]).encode() },
          { circId: 0, command: ChanCmd.NETINFO, body: new Netinfo(this.opts.nowSeconds(), this.opts.peerAddress, this.opts.myAddresses).encode() },
        ];
        // SLOG covers what we send up to and including AUTH_CHALLENGE (not NETINFO).
        for (const c of send.slice(0, 3)) this.ours.push(encodeCell(c, c.command === ChanCmd.VERSIONS ? 0 : best));
        return { send };
      }
      case 'await-netinfo': {
        if (cell.command === ChanCmd.CERTS && !this.initiatorCerts) {
          this.initiatorCerts = CertsCell.decode(cell.body);
          this.theirs.push(encodeCell(cell, this.linkVersion));
          return { send: [] };
        }
        if (cell.command === ChanCmd.AUTHENTICATE && this.initiatorCerts && !this.sawAuthenticate) {
          const authenticate = Authenticate.decode(cell.body);
          this.sawAuthenticate = true;
          if (this.opts.verifyAuthenticate) {
            this.initiator = this.opts.verifyAuthenticate({ certs: this.initiatorCerts, authenticate, slog: transcriptDigest(this.ours), clog: transcriptDigest(this.theirs) });
          }
          return { send: [] };
        }
        if (cell.command !== ChanCmd.NETINFO) throw new ProtocolError('link handshake', `expected NETINFO from the initiator, got ${ChanCmd.nameOf(cell.command)}`);
        Netinfo.decode(cell.body);
        this.state = 'open';
        return { send: [], opened: { linkVersion: this.linkVersion, initiator: this.initiator } };
      }
      case 'open':
        throw new ProtocolError('link handshake', 'handshake already complete');
    }
  }
}
