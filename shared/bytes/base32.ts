import { ProtocolError } from '../util/index.ts';

/** RFC 4648 base32 (lower-case alphabet, no padding), as onion addresses use it. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function toBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Decode base32 (either case, no padding). Throws ProtocolError on other characters or leftover bits. */
export function fromBase32(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let pos = 0;
  for (let i = 0; i < text.length; i++) {
    const v = ALPHABET.indexOf(text[i]!.toLowerCase());
    if (v < 0) throw new ProtocolError('base32 string', `invalid character '${text[i]}'`, i);
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[pos++] = (buffer >>> (bits - 8)) & 0xff;
      bits -= 8;
      buffer &= (1 << bits) - 1;
    }
  }
  if (buffer !== 0) throw new ProtocolError('base32 string', 'non-zero padding bits');
  return out;
}
