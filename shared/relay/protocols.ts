import { ProtocolList } from '../netdoc/index.ts';

/**
 * The subprotocols Telescope's relay implements (tor-spec "Subprotocol versioning"), and nothing
 * more: clients choose relays for a role by these, so a claim the code does not keep breaks their
 * circuits. One constant for the descriptor's "proto" line (relay-bridge/relay/descriptor.ts) and
 * the relay's check of each consensus' required-relay-protocols and recommended-relay-protocols
 * (shared/directory/protocol-check.ts).
 *
 *   Cons=1-2 Microdesc=1-2  consensuses and microdescriptors of any consensus method, fetched,
 *                 verified and served alike (Ed25519 ids optional to the parsers)
 *   Desc=1-2      its own descriptor carries the Ed25519 identity, cross-certified onion keys and
 *                 both signatures (relay-bridge/relay/descriptor.ts)
 *   DirCache=2    answers BEGIN_DIR (shared/relay/dir-server.ts): the microdesc consensus, authority
 *                 certificates, microdescriptors, its own descriptor, and consensus diffs from the
 *                 consensuses it kept (proposal 140, shared/netdoc/consdiff.ts)
 *   FlowCtrl=1    authenticated SENDMEs (shared/relay/relay-circuit.ts); not congestion control
 *   Link=4-5      link protocol versions its responder accepts (shared/channel/responder.ts)
 *   LinkAuth=3    Ed25519 link authentication (AUTHENTICATE) on the links it opens to extend
 *   Relay=2       CREATE2/EXTEND2 with ntor (and CREATE_FAST from clients); not IPv6 extends
 *                 (Relay=3) nor ntor-v3 (Relay=4)
 *
 * Not implemented, so not listed: HSDir (it stores no onion-service descriptors), HSIntro and
 * HSRend (it is no introduction or rendezvous point), Padding, Conflux. Against tor 0.4.9's
 * required-relay-protocols it lacks FlowCtrl=2 HSDir=2 HSIntro=4-5 HSRend=2 Relay=3-4:
 * on a network that requires them (the public one does) the relay refuses to run, as tor would.
 */
export const TELESCOPE_RELAY_PROTOCOLS = ProtocolList.parse('Cons=1-2 Desc=1-2 DirCache=2 FlowCtrl=1 Link=4-5 LinkAuth=3 Microdesc=1-2 Relay=2');
