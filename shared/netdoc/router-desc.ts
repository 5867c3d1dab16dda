import { fromBase64, toHex } from '../bytes/index.ts';
import { ProtocolError } from '../util/index.ts';
import { documentText, itemError, needArgs, tokenize } from './netdoc.ts';

/**
 * The few fields of a relay's own server descriptor (dir-spec "Router descriptors") that a client
 * needs from a bridge: its ntor onion key and identities. The client fetches it from the bridge
 * itself (/tor/server/authority) over a link whose CERTS check already proved the bridge's
 * identity, and checks that the descriptor names the same identity.
 */

export interface BridgeDescriptor {
  readonly nickname: string;
  /** Upper-case hex RSA identity fingerprint. */
  readonly fingerprint: string;
  readonly ntorOnionKey: Uint8Array;
  readonly ed25519Identity: Uint8Array | undefined;
}

const CONTEXT = 'server descriptor';

export function parseBridgeDescriptor(input: string | Uint8Array): BridgeDescriptor {
  const items = tokenize(documentText(input, CONTEXT), { context: CONTEXT });
  const first = items[0];
  if (!first || first.keyword !== 'router') throw new ProtocolError(CONTEXT, 'document must start with "router"');
  const nickname = needArgs(CONTEXT, first, 1)[0]!;
  const one = (keyword: string) => {
    const found = items.filter((i) => i.keyword === keyword);
    if (found.length !== 1) throw new ProtocolError(CONTEXT, `expected exactly one "${keyword}" line, found ${found.length}`);
    return found[0]!;
  };
  const fpItem = one('fingerprint');
  const fingerprint = fpItem.args.join('').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(fingerprint)) throw itemError(CONTEXT, fpItem, 'fingerprint is not 40 hex digits');
  const ntorItem = one('ntor-onion-key');
  const ntorText = needArgs(CONTEXT, ntorItem, 1)[0]!;
  const ntorOnionKey = fromBase64(ntorText);
  if (ntorOnionKey.length !== 32) throw itemError(CONTEXT, ntorItem, `ntor-onion-key of ${ntorOnionKey.length} bytes`);
  const edItem = items.find((i) => i.keyword === 'master-key-ed25519');
  let ed25519Identity: Uint8Array | undefined;
  if (edItem) {
    const t = needArgs(CONTEXT, edItem, 1)[0]!;
    ed25519Identity = fromBase64(t);
    if (ed25519Identity.length !== 32) throw itemError(CONTEXT, edItem, 'master-key-ed25519 is not 32 bytes');
  }
  return { nickname, fingerprint, ntorOnionKey, ed25519Identity };
}

/** Throws unless the descriptor is the one of the relay whose RSA identity is `rsaIdentity`. */
export function checkDescriptorIdentity(desc: BridgeDescriptor, rsaIdentity: Uint8Array): void {
  const expected = toHex(rsaIdentity).toUpperCase();
  if (desc.fingerprint !== expected) throw new ProtocolError(CONTEXT, `descriptor is for ${desc.fingerprint}, not ${expected}`);
}
