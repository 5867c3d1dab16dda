import { toBase64 } from '../bytes/index.ts';
import { UsageError } from '../util/index.ts';
import { encodeNetdoc, expectNoObject, expectObject, itemError, needArgs, parseBase64Field, tokenize, type NetdocItem } from '../netdoc/index.ts';
import { AUTH_CLIENT_IV_LEN, CLIENT_ID_LEN, DESCRIPTOR_COOKIE_LEN, unpadPlaintext, type AuthClientEntry } from './descriptor-crypto.ts';
import { DescriptorError, malformedOnError } from './descriptor-error.ts';

/**
 * The first-layer plaintext ("middle layer", rend-spec-v3 [HS-DESC-FIRST-LAYER] plaintext format):
 * the client-authorization data and the second encrypted layer. Services without client auth fill
 * it with fake data of the same shape, so its presence says nothing.
 */

const CONTEXT = 'onion-service descriptor (first layer plaintext)';

export interface MiddleLayer {
  /** Always "x25519", the only type rend-spec defines. */
  readonly authType: string;
  /** The service's ephemeral x25519 public key for this descriptor. */
  readonly ephemeralKey: Uint8Array;
  readonly authClients: readonly AuthClientEntry[];
  /** The second-layer blob: salt | ciphertext | MAC. */
  readonly encrypted: Uint8Array;
}

/** Parse the decrypted first layer (trailing NUL padding and a missing final newline allowed). */
export function parseMiddleLayer(plaintext: string | Uint8Array): MiddleLayer {
  const bytes = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext;
  const items = malformedOnError('first layer plaintext', () => tokenize(unpadPlaintext(bytes), { context: CONTEXT }));
  return malformedOnError('first layer plaintext', () => {
    let authType: NetdocItem | undefined;
    let ephemeral: NetdocItem | undefined;
    let encrypted: NetdocItem | undefined;
    const clients: AuthClientEntry[] = [];
    const once = (prev: NetdocItem | undefined, item: NetdocItem): NetdocItem => {
      if (prev) throw itemError(CONTEXT, item, 'appears more than once');
      return item;
    };
    for (const item of items) {
      switch (item.keyword) {
        case 'desc-auth-type':
          authType = once(authType, item);
          break;
        case 'desc-auth-ephemeral-key':
          ephemeral = once(ephemeral, item);
          break;
        case 'encrypted':
          encrypted = once(encrypted, item);
          break;
        case 'auth-client': {
          expectNoObject(CONTEXT, item);
          const [id, iv, cookie] = needArgs(CONTEXT, item, 3);
          // 16 bytes from C tor; 32 is what rend-spec's text says, so accept that too.
          const cookieLen = cookie!.replace(/=+$/, '').length > 22 ? 32 : DESCRIPTOR_COOKIE_LEN;
          const encryptedCookie = parseBase64Field(CONTEXT, item, cookie!, 'encrypted-cookie', cookieLen);
          clients.push({
            clientId: parseBase64Field(CONTEXT, item, id!, 'client-id', CLIENT_ID_LEN),
            iv: parseBase64Field(CONTEXT, item, iv!, 'iv', AUTH_CLIENT_IV_LEN),
            encryptedCookie,
          });
          break;
        }
        default:
          break; // unknown items are ignored (dir-spec), so the format can grow
      }
    }
    if (!authType) throw new DescriptorError('malformed', 'missing "desc-auth-type"');
    if (!ephemeral) throw new DescriptorError('malformed', 'missing "desc-auth-ephemeral-key"');
    if (!encrypted) throw new DescriptorError('malformed', 'missing "encrypted"');
    if (clients.length === 0) throw new DescriptorError('malformed', 'no "auth-client" lines');
    expectNoObject(CONTEXT, authType);
    const type = needArgs(CONTEXT, authType, 1)[0]!;
    if (type !== 'x25519') throw itemError(CONTEXT, authType, `unknown authorization type "${type.slice(0, 30)}"`);
    expectNoObject(CONTEXT, ephemeral);
    const ephemeralKey = parseBase64Field(CONTEXT, ephemeral, needArgs(CONTEXT, ephemeral, 1)[0]!, 'ephemeral key', 32);
    return { authType: type, ephemeralKey, authClients: clients, encrypted: expectObject(CONTEXT, encrypted, ['MESSAGE']) };
  });
}

/** Encode the first-layer plaintext. Like C tor, without a final newline (rend-spec allows both). */
export function encodeMiddleLayer(m: MiddleLayer): string {
  if (m.ephemeralKey.length !== 32) throw new UsageError('ephemeral key must be 32 bytes');
  if (m.authClients.length === 0) throw new UsageError('the first layer needs at least one auth-client entry');
  const text = encodeNetdoc([
    { keyword: 'desc-auth-type', args: [m.authType] },
    { keyword: 'desc-auth-ephemeral-key', args: [toBase64(m.ephemeralKey)] },
    ...m.authClients.map((c) => {
      if (c.clientId.length !== CLIENT_ID_LEN || c.iv.length !== AUTH_CLIENT_IV_LEN) throw new UsageError('auth-client entry with wrong field sizes');
      return { keyword: 'auth-client', args: [toBase64(c.clientId, false), toBase64(c.iv, false), toBase64(c.encryptedCookie, false)] };
    }),
    { keyword: 'encrypted', object: { label: 'MESSAGE', data: m.encrypted } },
  ]);
  return text.slice(0, -1);
}
