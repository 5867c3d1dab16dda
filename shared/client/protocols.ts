import { ProtocolList } from '../netdoc/index.ts';

/**
 * The subprotocols Telescope's client implements (tor-spec "Subprotocol versioning"), checked
 * against each consensus' required-client-protocols and recommended-client-protocols
 * (shared/directory/protocol-check.ts). Each entry is what the code does today, nothing more:
 *
 *   DirCache=2     fetches over BEGIN_DIR, asking for consensus diffs (X-Or-Diff-From-Consensus,
 *                  shared/directory/bootstrap.ts, shared/netdoc/consdiff.ts)
 *   Cons=1-2       microdesc consensuses of any consensus method: Ed25519 ids in microdescriptors
 *                  (method 21, Cons=2) are read when present, and optional
 *                  (shared/netdoc/consensus.ts, shared/netdoc/microdesc.ts)
 *   Microdesc=1-2  the same for microdescriptors (id ed25519 optional, ntor-onion-key required)
 *   Desc=1-2       the only router descriptors it reads are bridges' own, in both formats (ntor key,
 *                  Ed25519 master key when present: shared/netdoc/router-desc.ts); it takes their
 *                  authenticity from the link the CERTS cell proved, not from their signatures
 *   FlowCtrl=1     authenticated SENDMEs (shared/circuit/fixed-windows.ts); not congestion control
 *                  (FlowCtrl=2, proposal 324)
 *   HSDir=2        v3 onion-service descriptors fetched and published (shared/onion/)
 *   HSIntro=4-5    v3 introduction (INTRODUCE1 with Ed25519 auth keys); as a service it sends
 *                  ESTABLISH_INTRO's DoS extension (shared/onion/establish-intro.ts)
 *   HSRend=2       v3 rendezvous (ESTABLISH_RENDEZVOUS, RENDEZVOUS2)
 *   Link=4-5       link protocol versions it offers in VERSIONS (shared/channel/handshake.ts)
 *   Relay=2        CREATE2/EXTEND2 with ntor; not IPv6 extends (Relay=3) nor ntor-v3 (Relay=4)
 *
 * Not listed: LinkAuth (clients never authenticate a link), Padding, Conflux.
 */
export const TELESCOPE_CLIENT_PROTOCOLS = ProtocolList.parse('Cons=1-2 Desc=1-2 DirCache=2 FlowCtrl=1 HSDir=2 HSIntro=4-5 HSRend=2 Link=4-5 Microdesc=1-2 Relay=2');
