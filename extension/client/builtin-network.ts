import { PUBLIC_DIR_AUTHORITIES, PUBLIC_NETWORK_SOURCE, type DirAuthority } from '../../shared/directory/index.ts';

/**
 * The directory authorities the extension trusts when the settings name none: the public Tor
 * network's, as tor builds them in. The bridge is the only peer the extension ever dials, so the
 * fallback directories (first directory sources of a client that dials relays itself) play no part
 * here; the authorities are what the consensus must be signed by.
 *
 * Tests of the built-in path build the extension with this module replaced (vite.config.ts, when
 * TELESCOPE_BUILTIN_NETWORK names a file of DirAuthority lines, into a separate output folder): the
 * shipped build contains only the public list.
 */
export interface BuiltinAuthoritySet {
  /** Whose authorities these are, for a person: "Tor's public directory authorities". */
  readonly name: string;
  /** Where the list comes from, for a person: "tor 0.4.9.3-alpha-dev". */
  readonly source: string;
  readonly authorities: readonly DirAuthority[];
}

export const BUILTIN_AUTHORITIES: BuiltinAuthoritySet = {
  name: "Tor's public directory authorities",
  // The release, without the commit: a person recognises "tor 0.4.9.3-alpha-dev".
  source: PUBLIC_NETWORK_SOURCE.tor.split(',')[0]!,
  authorities: PUBLIC_DIR_AUTHORITIES.map(({ nickname, address, orPort, dirPort, fingerprint, v3ident }) => ({ nickname, address, orPort, dirPort, fingerprint, v3ident })),
};
