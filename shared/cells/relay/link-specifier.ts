import { Reader, Writer, openEnum } from '../../bytes/index.ts';
import { UsageError } from '../../util/index.ts';

/**
 * Link specifiers (tor-spec "EXTEND2 cells"): how to reach and recognize a relay. EXTEND2 and
 * onion-service descriptors and INTRODUCE cells carry them. Unknown types are kept raw, since a
 * relay must pass along specifiers it does not understand.
 */
export const LinkSpecType = openEnum({ IPV4: 0, IPV6: 1, LEGACY_ID: 2, ED25519_ID: 3 });

export type LinkSpecifier =
  | { readonly type: 'ipv4'; readonly address: Uint8Array; readonly port: number }
  | { readonly type: 'ipv6'; readonly address: Uint8Array; readonly port: number }
  | { readonly type: 'legacy-id'; readonly rsaIdentity: Uint8Array }
  | { readonly type: 'ed25519-id'; readonly ed25519Identity: Uint8Array }
  | { readonly type: 'unrecognized'; readonly code: number; readonly body: Uint8Array };

export function readLinkSpecifier(r: Reader): LinkSpecifier {
  const code = r.u8('link specifier type');
  const body = r.subU8('link specifier');
  let spec: LinkSpecifier;
  switch (code) {
    case LinkSpecType.IPV4:
      spec = { type: 'ipv4', address: body.bytesN(4, 'IPv4 address').slice(), port: body.u16('port') };
      break;
    case LinkSpecType.IPV6:
      spec = { type: 'ipv6', address: body.bytesN(16, 'IPv6 address').slice(), port: body.u16('port') };
      break;
    case LinkSpecType.LEGACY_ID:
      spec = { type: 'legacy-id', rsaIdentity: body.bytesN(20, 'RSA identity').slice() };
      break;
    case LinkSpecType.ED25519_ID:
      spec = { type: 'ed25519-id', ed25519Identity: body.bytesN(32, 'Ed25519 identity').slice() };
      break;
    default:
      return { type: 'unrecognized', code, body: body.rest().slice() };
  }
  body.shouldBeExhausted();
  return spec;
}

export function writeLinkSpecifier(w: Writer, s: LinkSpecifier): void {
  switch (s.type) {
    case 'ipv4':
      if (s.address.length !== 4) throw new UsageError('IPv4 link specifier needs 4 address bytes');
      w.u8(LinkSpecType.IPV4).u8(6).bytes(s.address).u16(s.port);
      break;
    case 'ipv6':
      if (s.address.length !== 16) throw new UsageError('IPv6 link specifier needs 16 address bytes');
      w.u8(LinkSpecType.IPV6).u8(18).bytes(s.address).u16(s.port);
      break;
    case 'legacy-id':
      if (s.rsaIdentity.length !== 20) throw new UsageError('legacy id link specifier needs 20 bytes');
      w.u8(LinkSpecType.LEGACY_ID).lenU8(s.rsaIdentity);
      break;
    case 'ed25519-id':
      if (s.ed25519Identity.length !== 32) throw new UsageError('Ed25519 link specifier needs 32 bytes');
      w.u8(LinkSpecType.ED25519_ID).lenU8(s.ed25519Identity);
      break;
    case 'unrecognized':
      w.u8(s.code).lenU8(s.body);
      break;
  }
}

/** NSPEC | specifiers, as EXTEND2 and INTRODUCE2 carry them. */
export function readLinkSpecifiers(r: Reader): LinkSpecifier[] {
  const n = r.u8('link specifier count');
  const out: LinkSpecifier[] = [];
  for (let i = 0; i < n; i++) out.push(readLinkSpecifier(r));
  return out;
}

export function writeLinkSpecifiers(w: Writer, specs: readonly LinkSpecifier[]): void {
  w.u8(specs.length);
  for (const s of specs) writeLinkSpecifier(w, s);
}
