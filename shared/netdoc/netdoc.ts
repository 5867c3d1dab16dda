import { fromBase64, toBase64 } from '../bytes/index.ts';
import { ProtocolError, UsageError } from '../util/index.ts';

/**
 * The directory "netdoc" meta-format (dir-spec §1.2): a document is a sequence of items, each a
 * keyword line (`Keyword args...\n`) optionally followed by one PEM-like object
 * (`-----BEGIN LABEL-----`, base64 lines, `-----END LABEL-----`).
 *
 * Signatures in these documents cover exact byte ranges ("from the start of the initial item
 * through the newline after the signature item's keyword"), so every item records where it starts
 * and ends. Documents are ASCII: the tokenizer refuses anything else, which makes a character
 * offset in the string the same number as a byte offset in the document, and lets callers cut a
 * signed range out of the string and hash `utf8(range)` with no re-encoding surprises.
 */

/** A PEM-like object attached to an item. */
export interface NetdocObject {
  /** The text between `-----BEGIN ` and `-----`, e.g. "RSA PUBLIC KEY" or "SIGNATURE". */
  readonly label: string;
  /** The base64 body, decoded. */
  readonly data: Uint8Array;
}

/** One item of a document. */
export interface NetdocItem {
  readonly keyword: string;
  /** Arguments, split on runs of spaces and tabs. */
  readonly args: readonly string[];
  /** Everything after the keyword and its following whitespace, trailing whitespace removed. */
  readonly rawArgs: string;
  readonly object: NetdocObject | undefined;
  /** 1-based line number of the keyword line, for error messages. */
  readonly line: number;
  /** Offset (chars = bytes) of the keyword's first character. */
  readonly start: number;
  /** Offset of the newline that ends the keyword line. */
  readonly lineEnd: number;
  /** Offset just past the item's last newline (after the object's END line, if any). */
  readonly end: number;
  /** True for an `@annotation` line (only produced when annotations are allowed). */
  readonly annotation: boolean;
}

export interface TokenizeOptions {
  /** Name of the document, used as the context of errors. */
  context?: string;
  /**
   * Accept `@keyword args` annotation lines, which tor writes in front of documents in its own
   * caches (e.g. "@last-listed" in cached-microdescs). Never present in documents from the network.
   */
  allowAnnotations?: boolean;
}

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ANNOTATION = /^@[A-Za-z0-9][A-Za-z0-9-]*$/;
const OBJECT_LABEL = /^[A-Za-z0-9][A-Za-z0-9-]*( [A-Za-z0-9][A-Za-z0-9-]*)*$/;
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
/** Anything that is not printable ASCII, tab or newline (CR, NUL, non-ASCII...). */
const FORBIDDEN_CHAR = /[^\t\n\x20-\x7e]/;
const WS = /[ \t]+/;
const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';

/**
 * Bytes of a document as a string, refusing anything but ASCII: these documents are specified as
 * ASCII, and a non-ASCII byte would make string offsets differ from the signed byte offsets.
 */
export function decodeAscii(bytes: Uint8Array, context = 'network document'): string {
  let line = 1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) line++;
    else if (b !== 0x09 && (b < 0x20 || b > 0x7e)) {
      throw new ProtocolError(context, `line ${line}: byte 0x${b.toString(16).padStart(2, '0')} is not printable ASCII`, i);
    }
  }
  return new TextDecoder().decode(bytes);
}

/** Accept either a string or bytes for a document (bytes must be ASCII). */
export function documentText(input: string | Uint8Array, context: string): string {
  return typeof input === 'string' ? input : decodeAscii(input, context);
}

/** Split a document into items. Throws ProtocolError naming the line of the first problem. */
export function tokenize(input: string | Uint8Array, options: TokenizeOptions = {}): NetdocItem[] {
  const context = options.context ?? 'network document';
  const text = documentText(input, context);
  const bad = FORBIDDEN_CHAR.exec(text);
  if (bad) {
    const line = lineOf(text, bad.index);
    throw new ProtocolError(context, `line ${line}: character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not printable ASCII`, bad.index);
  }
  if (text.length > 0 && !text.endsWith('\n')) {
    throw new ProtocolError(context, `line ${lineOf(text, text.length - 1)}: document does not end with a newline`, text.length);
  }

  const items: NetdocItem[] = [];
  let pos = 0;
  let line = 1;
  // Reads the line starting at `pos`; every line ends in '\n' (checked above).
  const nextLine = (): { s: string; start: number; nl: number } => {
    const nl = text.indexOf('\n', pos);
    const out = { s: text.slice(pos, nl), start: pos, nl };
    pos = nl + 1;
    line++;
    return out;
  };
  const fail = (atLine: number, offset: number, detail: string): never => {
    throw new ProtocolError(context, `line ${atLine}: ${detail}`, offset);
  };

  while (pos < text.length) {
    const keywordLineNo = line;
    const { s, start, nl } = nextLine();
    if (s === '') continue; // dir-spec: Document ::= (Item | NL)+
    if (s.startsWith('-')) fail(keywordLineNo, start, s.startsWith(BEGIN) ? 'object without a keyword line before it' : `"${s.slice(0, 20)}" is not a keyword line`);
    if (s.startsWith(' ') || s.startsWith('\t')) fail(keywordLineNo, start, 'keyword line starts with whitespace');
    const sp = s.search(WS);
    const keyword = sp < 0 ? s : s.slice(0, sp);
    const annotation = keyword.startsWith('@');
    if (annotation) {
      if (!options.allowAnnotations) fail(keywordLineNo, start, `annotation "${keyword}" not allowed here`);
      if (!ANNOTATION.test(keyword)) fail(keywordLineNo, start, `invalid annotation "${keyword}"`);
    } else if (!KEYWORD.test(keyword)) {
      fail(keywordLineNo, start, `invalid keyword "${keyword.slice(0, 40)}"`);
    }
    const rawArgs = sp < 0 ? '' : s.slice(sp).trim();
    const args = rawArgs === '' ? [] : rawArgs.split(WS);

    let object: NetdocObject | undefined;
    if (text.startsWith(BEGIN, pos)) {
      if (annotation) fail(line, pos, 'annotation with an object');
      const beginLineNo = line;
      const begin = nextLine();
      if (!begin.s.endsWith(DASHES) || begin.s.length < BEGIN.length + DASHES.length + 1) fail(beginLineNo, begin.start, 'malformed BEGIN line');
      const label = begin.s.slice(BEGIN.length, -DASHES.length);
      if (!OBJECT_LABEL.test(label)) fail(beginLineNo, begin.start, `invalid object label "${label.slice(0, 40)}"`);
      let b64 = '';
      for (;;) {
        if (pos >= text.length) fail(beginLineNo, begin.start, `object "${label}" has no END line`);
        const dataLineNo = line;
        const d = nextLine();
        if (d.s.startsWith(DASHES)) {
          if (d.s !== `${END}${label}${DASHES}`) fail(dataLineNo, d.start, `expected "${END}${label}${DASHES}"`);
          break;
        }
        if (!BASE64_LINE.test(d.s)) fail(dataLineNo, d.start, 'invalid base64 in object');
        b64 += d.s;
      }
      let data: Uint8Array;
      try {
        data = fromBase64(b64);
      } catch (e) {
        throw new ProtocolError(context, `line ${beginLineNo}: object "${label}" is not valid base64`, begin.start, { cause: e });
      }
      object = { label, data };
    }
    items.push({ keyword, args, rawArgs, object, line: keywordLineNo, start, lineEnd: nl, end: pos, annotation });
  }
  return items;
}

/** An item to encode: keyword, arguments and optional object. */
export interface NetdocItemInput {
  readonly keyword: string;
  readonly args?: readonly string[];
  readonly object?: NetdocObject | undefined;
}

/**
 * Encode items as a document (keyword lines, objects wrapped at 64 base64 characters as dir-spec
 * requires). Used to build test documents; refuses input that would not tokenize back the same.
 */
export function encodeNetdoc(items: readonly NetdocItemInput[]): string {
  let out = '';
  for (const item of items) {
    if (!KEYWORD.test(item.keyword)) throw new UsageError(`invalid netdoc keyword "${item.keyword}"`);
    const args = item.args ?? [];
    for (const a of args) {
      if (!/^[\x21-\x7e]+$/.test(a)) throw new UsageError(`invalid netdoc argument "${a}"`);
    }
    out += args.length ? `${item.keyword} ${args.join(' ')}\n` : `${item.keyword}\n`;
    if (item.object) {
      const { label, data } = item.object;
      if (!OBJECT_LABEL.test(label)) throw new UsageError(`invalid netdoc object label "${label}"`);
      out += `${BEGIN}${label}${DASHES}\n`;
      const b64 = toBase64(data);
      for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
      out += `${END}${label}${DASHES}\n`;
    }
  }
  return out;
}

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Field helpers shared by the document parsers. Each reports a ProtocolError naming the item's
// line, so a rejected document can be traced to the offending line.

/** A ProtocolError located at an item. */
export function itemError(context: string, item: NetdocItem, detail: string): ProtocolError {
  return new ProtocolError(context, `line ${item.line} ("${item.keyword}"): ${detail}`, item.start);
}

/** The item's arguments, requiring at least `min` (extra arguments are allowed, dir-spec §1.2). */
export function needArgs(context: string, item: NetdocItem, min: number): readonly string[] {
  if (item.args.length < min) throw itemError(context, item, `needs ${min} argument(s), has ${item.args.length}`);
  return item.args;
}

/** Refuse an object on an item that must not have one, or require one with the given label(s). */
export function expectObject(context: string, item: NetdocItem, labels: readonly string[]): Uint8Array {
  if (!item.object) throw itemError(context, item, `missing ${labels[0]} object`);
  if (!labels.includes(item.object.label)) throw itemError(context, item, `object is "${item.object.label}", expected "${labels[0]}"`);
  return item.object.data;
}

export function expectNoObject(context: string, item: NetdocItem): void {
  if (item.object) throw itemError(context, item, `unexpected "${item.object.label}" object`);
}

/** A decimal integer in [min, max]; only digits (and a leading '-' when min < 0). */
export function parseIntField(context: string, item: NetdocItem, s: string, what: string, min: number, max: number): number {
  const pattern = min < 0 ? /^-?[0-9]{1,12}$/ : /^[0-9]{1,12}$/;
  if (!pattern.test(s)) throw itemError(context, item, `${what} "${s.slice(0, 20)}" is not an integer`);
  const v = Number(s);
  if (v < min || v > max) throw itemError(context, item, `${what} ${v} out of range ${min}..${max}`);
  return v;
}

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
export const UINT32_MAX = 4294967295;

/** "YYYY-MM-DD HH:MM:SS" in UTC, given as two arguments starting at `index`. */
export function parseTimeArgs(context: string, item: NetdocItem, index: number): Date {
  const date = item.args[index];
  const time = item.args[index + 1];
  if (date === undefined || time === undefined) throw itemError(context, item, 'missing date and time');
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = /^(\d{2}):(\d{2}):(\d{2})$/.exec(time);
  if (!m || !t) throw itemError(context, item, `"${date} ${time}" is not YYYY-MM-DD HH:MM:SS`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(t[1]), Number(t[2]), Number(t[3])];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Date.UTC silently rolls over (Feb 30 -> Mar 2); a round trip catches impossible dates.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) {
    throw itemError(context, item, `"${date} ${time}" is not a valid time`);
  }
  return back;
}

/** Upper-case hex of a given byte length (fingerprints and digests). */
export function parseHexField(context: string, item: NetdocItem, s: string, what: string, bytes: number): string {
  if (s.length !== bytes * 2 || !/^[0-9A-Fa-f]+$/.test(s)) throw itemError(context, item, `${what} "${s.slice(0, 50)}" is not ${bytes * 2} hex digits`);
  return s.toUpperCase();
}

/** Base64 (padding optional) that must decode to exactly `bytes` bytes. */
export function parseBase64Field(context: string, item: NetdocItem, s: string, what: string, bytes: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = fromBase64(s);
  } catch (e) {
    throw new ProtocolError(context, `line ${item.line} ("${item.keyword}"): ${what} is not base64`, item.start, { cause: e });
  }
  if (out.length !== bytes) throw itemError(context, item, `${what} is ${out.length} bytes, expected ${bytes}`);
  return out;
}

/** `Key=Int32` pairs (consensus "params", "bandwidth-weights"); duplicate keys are refused. */
export function parseIntPairs(context: string, item: NetdocItem, args: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of args) {
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq) : '';
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw itemError(context, item, `"${a.slice(0, 40)}" is not Key=Value`);
    if (out.has(key)) throw itemError(context, item, `duplicate key "${key}"`);
    out.set(key, parseIntField(context, item, a.slice(eq + 1), key, INT32_MIN, INT32_MAX));
  }
  return out;
}
