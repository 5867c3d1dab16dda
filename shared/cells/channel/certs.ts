import { Reader, Writer, openEnum } from '../../bytes/index.ts';
import { ChanCmd } from './command.ts';

/** Certificate types carried in CERTS cells (tor-spec "CERTS cells", cert-spec "Certificate types"). */
export const CertType = openEnum({
  /** X.509 link certificate signed with the RSA-1024 identity key. */
  TLS_LINK_X509: 1,
  /** Self-signed X.509 certificate of the RSA-1024 identity key. */
  RSA_ID_X509: 2,
  /** X.509 authentication certificate (legacy RSA link authentication). */
  LINK_AUTH_X509: 3,
  /** Ed25519 signing key, signed with the Ed25519 identity key. */
  IDENTITY_V_SIGNING: 4,
  /** SHA-256 of the TLS link certificate, signed with the Ed25519 signing key. */
  SIGNING_V_TLS_CERT: 5,
  /** Ed25519 authentication key, signed with the signing key (initiator's AUTHENTICATE). */
  SIGNING_V_LINK_AUTH: 6,
  /** RSA→Ed25519 cross-certificate. */
  RSA_ID_V_IDENTITY: 7,
  /** Onion-service descriptor signing key, signed with the blinded key. */
  BLINDED_ID_V_SIGNING: 8,
  /** Onion-service introduction point auth key. */
  HS_IP_V_SIGNING: 9,
  /** ntor onion key cross-certified by the identity key. */
  NTOR_CC_IDENTITY: 10,
  /** Onion-service introduction point encryption key. */
  HS_IP_CC_SIGNING: 11,
});

export interface CertEntry {
  /** Certificate type (CertType), kept as a number so unknown types survive a round trip. */
  readonly type: number;
  /** The certificate body, undecoded (X.509 DER, Ed25519 cert, or RSA cross-cert). */
  readonly body: Uint8Array;
}

/**
 * CERTS (command 129, variable-length): the certificates a party presents during the link
 * handshake. Decoding only frames the list; checking the certificates is `crypto/link-certs.ts`.
 */
export class CertsCell {
  readonly command = ChanCmd.CERTS;
  constructor(readonly certs: readonly CertEntry[]) {}

  static decode(body: Uint8Array): CertsCell {
    const r = new Reader(body, 'CERTS cell');
    const n = r.u8('certificate count');
    const certs: CertEntry[] = [];
    for (let i = 0; i < n; i++) {
      const type = r.u8('certificate type');
      const certBody = r.lenU16('certificate body');
      certs.push({ type, body: certBody.slice() });
    }
    r.shouldBeExhausted();
    return new CertsCell(certs);
  }

  encode(): Uint8Array {
    const w = new Writer(16 + this.certs.reduce((n, c) => n + 3 + c.body.length, 0));
    w.u8(this.certs.length);
    for (const c of this.certs) w.u8(c.type).lenU16(c.body);
    return w.finish();
  }

  /** The certificates of one type (a well-formed CERTS cell has at most one of each). */
  ofType(type: number): CertEntry[] {
    return this.certs.filter((c) => c.type === type);
  }
}
