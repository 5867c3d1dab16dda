/**
 * A directory authority as the bootstrap uses it: where to fetch documents from (its address,
 * DirPort and ORPort, its relay identity for a BEGIN_DIR circuit) and whose signatures make a
 * consensus valid (its v3 identity). The parts are named as tor's DirAuthority line names them;
 * shared/config parses that line into this, and every host configures the client with it.
 */
export interface DirAuthority {
  readonly nickname: string;
  /** IPv4 address of the authority. */
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** RSA identity fingerprint of the authority's relay, 40 upper-case hex digits. */
  readonly fingerprint: string;
  /** `v3ident=`: fingerprint of the authority's v3 identity key, which signs consensuses (40 upper-case hex digits). */
  readonly v3ident: string;
}
