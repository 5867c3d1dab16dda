import type { BuiltInBridgeAuthority, DirAuthority, FallbackDir } from './authority.ts';
import { PUBLIC_BRIDGE_AUTHORITIES, PUBLIC_DIR_AUTHORITIES, PUBLIC_FALLBACK_DIRS } from './public-network.ts';

/** A bridge authority as a relay uses it: where a bridge would upload its descriptor. */
export type BridgeAuthority = Pick<BuiltInBridgeAuthority, 'nickname' | 'address' | 'orPort' | 'dirPort' | 'fingerprint'>;

/**
 * A Tor network as the directory code sees it: whose signatures make its consensus valid, and
 * where a first bootstrap may ask for one. Every Node command and the extension start from one of
 * these: the public network's by default, a private network's when DirAuthority lines name it, or
 * a loopback stand-in for the public one in tests (shared/config/builtin-network.ts reads it).
 */
export interface DirectoryNetwork {
  /** The v3 authorities: their majority signs the consensus; directory sources too (on tor's terms). */
  readonly authorities: readonly DirAuthority[];
  /** Fallback directories: the first directory sources of a bootstrap (none on a private network unless named). */
  readonly fallbacks: readonly FallbackDir[];
  /** Bridge authorities: they sign nothing; a bridge would upload its descriptor there. */
  readonly bridgeAuthorities: readonly BridgeAuthority[];
}

/** The public Tor network, as tor builds it in (shared/directory/public-network.ts). */
export const PUBLIC_NETWORK: DirectoryNetwork = {
  authorities: PUBLIC_DIR_AUTHORITIES,
  fallbacks: PUBLIC_FALLBACK_DIRS,
  bridgeAuthorities: PUBLIC_BRIDGE_AUTHORITIES,
};
