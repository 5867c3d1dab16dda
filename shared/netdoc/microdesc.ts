import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64, utf8 } from '../bytes/index.ts';
import { documentText, itemError, needArgs, parseBase64Field, tokenize, type NetdocItem } from './netdoc.ts';

/**
 * Microdescriptors (dir-spec §3.3): the per-relay keys and policy summaries a client needs to
 * build circuits. They are not signed; a client trusts one because the SHA-256 of its exact text
 * appears in a verified consensus "m" line. So each parsed microdescriptor carries its digest, and
 * callers keep only those whose digest the consensus lists.
 */

const CONTEXT = 'microdescriptor';

/** dir-spec: a missing "p"/"p6" means the relay exits to no ports. */
const REJECT_ALL = 'reject 1-65535';

export interface Microdesc {
  /** SHA-256 of the text from "onion-key" through the newline ending its last item. */
  readonly digest: Uint8Array;
  /** The digest as consensus "m" lines write it: base64 without padding. */
  readonly digestBase64: string;
  /** The microdescriptor's exact text (what the digest covers). */
  readonly text: string;
  /** Curve25519 key for ntor (32 bytes). */
  readonly ntorOnionKey: Uint8Array;
  /** "family" entries ($HEXID or nicknames), empty when absent. */
  readonly family: readonly string[];
  /** "family-ids" entries (e.g. "ed25519:..."), empty when absent. */
  readonly familyIds: readonly string[];
  /** IPv4 exit policy summary, e.g. "accept 80,443" (default "reject 1-65535"). */
  readonly policySummary: string;
  /** IPv6 exit policy summary (default "reject 1-65535"). */
  readonly ipv6PolicySummary: string;
  /** "id ed25519": the relay's Ed25519 identity (32 bytes), if listed. */
  readonly ed25519Id: Uint8Array | undefined;
  /** "id rsa1024": SHA-1 of the RSA identity (20 bytes), if listed. */
  readonly rsaId: Uint8Array | undefined;
}

export interface ParseMicrodescOptions {
  /** Accept tor cache annotations ("@last-listed ...") before each microdescriptor. */
  allowAnnotations?: boolean;
}

/**
 * Parse a concatenation of microdescriptors (each starts with "onion-key"), as served for
 * /tor/micro/d/... requests.
 */
export function parseMicrodescs(input: string | Uint8Array, options: ParseMicrodescOptions = {}): Microdesc[] {
  const text = documentText(input, CONTEXT);
  const items = tokenize(text, { context: CONTEXT, allowAnnotations: options.allowAnnotations ?? false });
  const out: Microdesc[] = [];
  let i = 0;
  while (i < items.length) {
    while (i < items.length && items[i]!.annotation) i++;
    if (i >= items.length) throw itemError(CONTEXT, items[items.length - 1]!, 'annotation without a microdescriptor');
    const first = items[i]!;
    if (first.keyword !== 'onion-key') throw itemError(CONTEXT, first, 'microdescriptor must start with "onion-key"');
    let j = i + 1;
    // Annotations, if allowed, belong to the microdescriptor after them.
    while (j < items.length && items[j]!.keyword !== 'onion-key' && !items[j]!.annotation) j++;
    out.push(parseOne(text, items.slice(i, j)));
    i = j;
  }
  return out;
}

function parseOne(text: string, items: readonly NetdocItem[]): Microdesc {
  const first = items[0]!;
  // onion-key: "[No extra arguments]"; since tor 0.4.9 (proposal 350) its TAP key object is
  // optional. TAP is unused, so the key is not decoded, only its label checked.
  if (first.args.length) throw itemError(CONTEXT, first, 'takes no arguments');
  if (first.object && first.object.label !== 'RSA PUBLIC KEY') throw itemError(CONTEXT, first, `object is "${first.object.label}", expected "RSA PUBLIC KEY"`);

  const single = new Map<string, NetdocItem>();
  let ed25519Id: Uint8Array | undefined;
  let rsaId: Uint8Array | undefined;
  for (const it of items.slice(1)) {
    const k = it.keyword;
    if (k === 'id') {
      const [type, value] = needArgs(CONTEXT, it, 2);
      if (type === 'ed25519') {
        if (ed25519Id) throw itemError(CONTEXT, it, 'two "id ed25519" lines');
        ed25519Id = parseBase64Field(CONTEXT, it, value!, 'Ed25519 identity', 32);
      } else if (type === 'rsa1024') {
        if (rsaId) throw itemError(CONTEXT, it, 'two "id rsa1024" lines');
        rsaId = parseBase64Field(CONTEXT, it, value!, 'RSA identity digest', 20);
      }
      // dir-spec: "id" lines with unrecognized key types MUST be ignored.
    } else if (['ntor-onion-key', 'family', 'family-ids', 'p', 'p6'].includes(k)) {
      if (single.has(k)) throw itemError(CONTEXT, it, 'appears more than once');
      single.set(k, it);
    }
    // Other items ("a", "pr", future ones) are ignored (dir-spec §1.2).
  }
  const ntorItem = single.get('ntor-onion-key');
  if (!ntorItem) throw itemError(CONTEXT, first, 'missing "ntor-onion-key"');
  const ntorOnionKey = parseBase64Field(CONTEXT, ntorItem, needArgs(CONTEXT, ntorItem, 1)[0]!, 'ntor onion key', 32);
  const policy = (k: 'p' | 'p6') => {
    const it = single.get(k);
    return it ? parsePolicySummary(it) : REJECT_ALL;
  };
  const last = items[items.length - 1]!;
  const body = text.slice(first.start, last.end);
  const digest = sha256(utf8(body));
  return {
    digest,
    digestBase64: toBase64(digest, false),
    text: body,
    ntorOnionKey,
    family: single.get('family')?.args ?? [],
    familyIds: single.get('family-ids')?.args ?? [],
    policySummary: policy('p'),
    ipv6PolicySummary: policy('p6'),
    ed25519Id,
    rsaId,
  };
}

/**
 * Check a policy summary ("accept"/"reject" and a comma list of ports and ranges, dir-spec §3.8.2)
 * and return it as "accept 80,443"; policy/port-policy.ts interprets it.
 */
function parsePolicySummary(it: NetdocItem): string {
  const [verb, list] = needArgs(CONTEXT, it, 2);
  if (verb !== 'accept' && verb !== 'reject') throw itemError(CONTEXT, it, `policy must start with accept or reject, not "${verb!.slice(0, 20)}"`);
  for (const part of list!.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!m || lo < 1 || hi > 65535 || lo > hi) throw itemError(CONTEXT, it, `bad port or range "${part.slice(0, 20)}"`);
  }
  return `${verb} ${list}`;
}

/** Split parsed microdescriptors into those whose digest is in `wanted` (base64, no padding) and the rest. */
export function partitionByDigest(mds: readonly Microdesc[], wanted: ReadonlySet<string>): { known: Microdesc[]; unknown: Microdesc[] } {
  const known: Microdesc[] = [];
  const unknown: Microdesc[] = [];
  for (const md of mds) (wanted.has(md.digestBase64) ? known : unknown).push(md);
  return { known, unknown };
}
