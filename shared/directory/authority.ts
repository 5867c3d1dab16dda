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

/** An address and port; an IPv6 address is written without brackets. */
export interface AddressPort {
  readonly address: string;
  readonly port: number;
}

/**
 * A v3 directory authority of a built-in list (the public network's): the DirAuthority it becomes,
 * its IPv6 ORPort when the list gives one, and its line as the list writes it, which the torrc
 * DirAuthority parser reads (a DirAuthority line's value, without the keyword).
 */
export interface BuiltInAuthority extends DirAuthority {
  readonly ipv6: AddressPort | undefined;
  readonly line: string;
}

/**
 * A bridge authority of a built-in list: it collects bridge descriptors and signs no consensus,
 * so it has no v3 identity and is never counted among the authorities that vote.
 */
export interface BuiltInBridgeAuthority {
  readonly nickname: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** RSA identity fingerprint of its relay, 40 upper-case hex digits. */
  readonly fingerprint: string;
  readonly ipv6: AddressPort | undefined;
  readonly line: string;
}

/**
 * A fallback directory (tor's FallbackDir): a long-lived relay that serves directory documents, so
 * that a client's first fetches need not load the authorities.
 */
export interface FallbackDir {
  /** The relay's nickname, when a list names it (a FallbackDir line does not). */
  readonly nickname: string | undefined;
  /** The relay's IP address (IPv4 in tor's list). */
  readonly address: string;
  readonly orPort: number;
  /** Its DirPort, when the line gives one (tor's current list does not: clients use BEGIN_DIR). */
  readonly dirPort: number | undefined;
  /** RSA identity fingerprint (`id=`), 40 upper-case hex digits. */
  readonly fingerprint: string;
  /** `ipv6=[addr]:port`: its IPv6 ORPort. */
  readonly ipv6: AddressPort | undefined;
  /** `weight=N`: how often to pick it relative to the others (1 when absent). */
  readonly weight: number | undefined;
}
