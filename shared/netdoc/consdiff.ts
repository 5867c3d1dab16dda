import { sha3_256 } from '@noble/hashes/sha3.js';
import { fromHex, toHex, utf8 } from '../bytes/index.ts';
import { ProtocolError, type ErrorDetails } from '../util/index.ts';

/**
 * Consensus diffs (dir-spec "Consensus diffs" and its limited ed format; proposal 140): instead of
 * the whole consensus every hour, a directory cache sends an ed-style script that turns the
 * consensus the client holds into the new one, bracketed by two SHA3-256 digests:
 *
 *   network-status-diff-version 1
 *   hash FROM-DIGEST TO-DIGEST
 *   N,$d / N,Mc / Na / Nd ... (in reverse line order; a and c followed by lines and ".")
 *
 * FROM is the digest of the base consensus *as signed* (from "network-status-version" through the
 * space after the first "directory-signature"), so a diff applies whatever signatures the client's
 * copy carries; that is why a generated diff first deletes the base's signatures. TO is the digest
 * of the whole resulting document. The result of a diff is believed only after the ordinary
 * signature check: a lying cache can at worst waste a round trip.
 *
 * No I/O here: the client (shared/directory/) applies diffs, the relay's directory cache
 * (shared/relay/) generates them.
 */

export const CONSENSUS_DIFF_VERSION_LINE = 'network-status-diff-version 1';

const CONTEXT = 'consensus diff';
/** tor refuses an ed command line longer than this (its buffer is 128 bytes with the NUL). */
const MAX_COMMAND_LENGTH = 127;
/** tor refuses any line over 1 MiB in a consensus or a diff. */
const MAX_LINE_LENGTH = 1 << 20;
const INT32_MAX = 0x7fffffff;
/**
 * Between two router entries both consensuses list, the lines that differ are matched by a longest
 * common subsequence; past this many table cells (two stretches of ~2,000 lines each, far beyond
 * what a real pair of consensuses has between neighbours) the stretch is replaced whole instead:
 * a larger diff, never a wrong one, and bounded memory.
 */
const MAX_LCS_CELLS = 4_000_000;

/** Why a diff could not be used or made (a program decides on this, not on the message). */
export type ConsensusDiffFailure =
  /** The diff breaks the format: header, digests, commands, their order, lines to insert. */
  | 'malformed'
  /** The diff is from a consensus other than the one given (FROM digest differs). */
  | 'base-mismatch'
  /** Applying it gave a document whose digest is not the diff's TO digest. */
  | 'result-mismatch'
  /** No diff can be generated between these documents (unsorted entries, a "." line to add). */
  | 'cannot-generate';

export class ConsensusDiffError extends ProtocolError {
  constructor(readonly reason: ConsensusDiffFailure, detail: string, details?: ErrorDetails) {
    super(CONTEXT, detail, undefined, details);
  }
}

export type EdAction = 'a' | 'c' | 'd';

/** One ed command: lines `start`..`end` (1-based, inclusive; `end` '$' = the last line). */
export interface EdCommand {
  readonly action: EdAction;
  readonly start: number;
  readonly end: number | '$';
  /** Lines to insert (a, c): never empty, never ".". */
  readonly lines: readonly string[];
}

export interface ConsensusDiff {
  /** SHA3-256 of the base consensus as signed. */
  readonly from: Uint8Array;
  /** SHA3-256 of the whole resulting consensus. */
  readonly to: Uint8Array;
  /** In the order given: from the end of the document towards its start. */
  readonly commands: readonly EdCommand[];
}

/** SHA3-256 of a consensus's signed part (the FROM digest of a diff, and what clients ask diffs from). */
export function consensusDigestAsSigned(text: string): Uint8Array {
  const start = text.indexOf('network-status-version');
  const sig = start < 0 ? -1 : text.indexOf('\ndirectory-signature', start);
  const space = sig < 0 ? -1 : text.indexOf(' ', sig + 1);
  // As tor: a document without a signed part is hashed whole.
  return sha3_256(utf8(space < 0 ? text : text.slice(start, space + 1)));
}

/** SHA3-256 of a whole consensus (the TO digest of a diff). */
export function consensusDigest(text: string): Uint8Array {
  return sha3_256(utf8(text));
}

/** Whether a directory answer is a consensus diff rather than a consensus (as tor decides). */
export function looksLikeConsensusDiff(text: string): boolean {
  return text.startsWith(CONSENSUS_DIFF_VERSION_LINE);
}

/** Split a document into lines without their newlines; every line must end with one. */
function splitLines(text: string, what: string, reason: ConsensusDiffFailure): string[] {
  if (text.length === 0) return [];
  if (!text.endsWith('\n')) throw new ConsensusDiffError(reason, `${what} does not end with a newline`);
  const lines = text.slice(0, -1).split('\n');
  for (const [i, l] of lines.entries()) {
    if (l.length > MAX_LINE_LENGTH) throw new ConsensusDiffError(reason, `${what}: line ${i + 1} is over ${MAX_LINE_LENGTH} bytes`);
  }
  return lines;
}

function joinLines(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

const COMMAND = /^(\d+)(?:,(\d+|\$))?([acd])$/;
const HEX_DIGEST = /^[0-9A-Fa-f]{64}$/;

function lineNumber(digits: string, diffLine: number): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n) || n > INT32_MAX) throw new ConsensusDiffError('malformed', `line ${diffLine}: line number ${digits.slice(0, 20)} is out of range`);
  return n;
}

/** Parse a consensus diff. Throws ConsensusDiffError ('malformed') naming the diff line at fault. */
export function parseConsensusDiff(text: string): ConsensusDiff {
  const lines = splitLines(text, 'the diff', 'malformed');
  if (lines[0] !== CONSENSUS_DIFF_VERSION_LINE) throw new ConsensusDiffError('malformed', `line 1: expected "${CONSENSUS_DIFF_VERSION_LINE}"`);
  const hash = lines[1]?.split(' ');
  if (!hash || hash.length !== 3 || hash[0] !== 'hash') throw new ConsensusDiffError('malformed', 'line 2: expected "hash FROM-DIGEST TO-DIGEST"');
  if (!HEX_DIGEST.test(hash[1]!) || !HEX_DIGEST.test(hash[2]!)) throw new ConsensusDiffError('malformed', 'line 2: digests must be 64 hex digits (SHA3-256)');
  const commands: EdCommand[] = [];
  let i = 2;
  while (i < lines.length) {
    const at = i + 1;
    const line = lines[i]!;
    if (line.length > MAX_COMMAND_LENGTH) throw new ConsensusDiffError('malformed', `line ${at}: ed command over ${MAX_COMMAND_LENGTH} bytes`);
    const m = COMMAND.exec(line);
    if (!m) throw new ConsensusDiffError('malformed', `line ${at}: not an ed command (N[,M|,$] then a, c or d): "${line.slice(0, 40)}"`);
    const action = m[3] as EdAction;
    const start = lineNumber(m[1]!, at);
    const end = m[2] === undefined ? start : m[2] === '$' ? '$' : lineNumber(m[2], at);
    if (end !== '$' && m[2] !== undefined && end <= start) throw new ConsensusDiffError('malformed', `line ${at}: range ${start},${end} does not end after it starts`);
    if (end === '$' && action !== 'd') throw new ConsensusDiffError('malformed', `line ${at}: "$" is allowed only with d`);
    if (action === 'a' && m[2] !== undefined) throw new ConsensusDiffError('malformed', `line ${at}: a takes one line number, not a range`);
    // Line 0 exists only as "before the first line", which only a (append) means.
    if (action !== 'a' && start === 0) throw new ConsensusDiffError('malformed', `line ${at}: ${action} of line 0`);
    i++;
    const inserted: string[] = [];
    if (action !== 'd') {
      while (i < lines.length && lines[i] !== '.') inserted.push(lines[i++]!);
      if (i >= lines.length) throw new ConsensusDiffError('malformed', `line ${at}: lines to insert do not end with "."`);
      if (inserted.length === 0) throw new ConsensusDiffError('malformed', `line ${at}: ${action} inserts no lines`);
      i++; // the "."
    }
    commands.push({ action, start, end, lines: inserted });
  }
  return { from: fromHex(hash[1]!), to: fromHex(hash[2]!), commands };
}

/**
 * Apply ed commands to lines. The commands must run from the end of the document towards its
 * start, each touching only lines before the previous one's, as dir-spec requires: that keeps
 * every line number relative to the original and the work linear.
 */
function applyEd(base: readonly string[], commands: readonly EdCommand[]): string[] {
  const out: string[] = []; // built backwards, reversed at the end
  let j = base.length; // lines j+1.. of the base are already placed
  for (const [n, cmd] of commands.entries()) {
    const end = cmd.end === '$' ? base.length : cmd.end;
    if (cmd.end === '$' && end <= cmd.start) throw new ConsensusDiffError('malformed', `command ${n + 1} (${cmd.start},$d): the ${base.length}-line base has no range there`);
    if (end > j) {
      throw new ConsensusDiffError('malformed', `command ${n + 1} (${cmd.start}${cmd.end === cmd.start ? '' : `,${cmd.end}`}${cmd.action}): ${end > base.length ? `line ${end} is past the end of the ${base.length}-line base` : 'commands are not in reverse order'}`);
    }
    for (; j > end; j--) out.push(base[j - 1]!);
    if (cmd.action !== 'a') j = cmd.start - 1;
    for (let k = cmd.lines.length - 1; k >= 0; k--) out.push(cmd.lines[k]!);
  }
  for (; j > 0; j--) out.push(base[j - 1]!);
  return out.reverse();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Apply a diff to the consensus it was made from. Checks the base against the FROM digest first
 * and the result against the TO digest after. Throws ConsensusDiffError: 'malformed',
 * 'base-mismatch' or 'result-mismatch'. `baseDigestAsSigned`, when given, must be the base's
 * consensusDigestAsSigned (it saves hashing megabytes again).
 */
export function applyConsensusDiff(base: string, diff: string | ConsensusDiff, opts: { baseDigestAsSigned?: Uint8Array } = {}): string {
  const parsed = typeof diff === 'string' ? parseConsensusDiff(diff) : diff;
  // A holder of the base usually knows its digest already (it asked for the diff with it).
  const have = opts.baseDigestAsSigned ?? consensusDigestAsSigned(base);
  if (!sameBytes(have, parsed.from)) {
    throw new ConsensusDiffError('base-mismatch', `the diff is from consensus ${toHex(parsed.from).toUpperCase()}, ours is ${toHex(have).toUpperCase()}`);
  }
  const result = joinLines(applyEd(splitLines(base, 'the base consensus', 'base-mismatch'), parsed.commands));
  const got = consensusDigest(result);
  if (!sameBytes(got, parsed.to)) {
    throw new ConsensusDiffError('result-mismatch', `the result's digest is ${toHex(got).toUpperCase()}, the diff promised ${toHex(parsed.to).toUpperCase()}`);
  }
  return result;
}

// --- Generating diffs -----------------------------------------------------------------------

/** Base64 digit values, for ordering identities as tor does (by value, not by character code). */
const BASE64_VALUE = (() => {
  const t = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
})();

function base64Value(c: number): number {
  return c < 128 ? BASE64_VALUE[c]! : -1;
}

/** The identity (base64, unparsed) of a router entry's "r" line, or undefined for other lines. */
function routerIdentity(line: string): string | undefined {
  if (!line.startsWith('r ')) return undefined;
  const space = line.indexOf(' ', 2);
  if (space < 0) return undefined;
  let end = space + 1;
  while (end < line.length && base64Value(line.charCodeAt(end)) >= 0) end++;
  return end === space + 1 ? undefined : line.slice(space + 1, end);
}

/** Order of two base64 identities by digit value; a proper prefix sorts first. */
function compareIdentities(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = base64Value(a.charCodeAt(i)) - base64Value(b.charCodeAt(i));
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Router entries of a consensus as (line index, identity), checked to be in strictly ascending order. */
function routerLines(lines: readonly string[], which: string): { index: number; id: string }[] {
  const out: { index: number; id: string }[] = [];
  for (const [index, line] of lines.entries()) {
    const id = routerIdentity(line);
    if (id === undefined) continue;
    const prev = out[out.length - 1];
    if (prev && compareIdentities(prev.id, id) >= 0) throw new ConsensusDiffError('cannot-generate', `the ${which} consensus's router entries are not sorted by identity (line ${index + 1})`);
    out.push({ index, id });
  }
  return out;
}

/**
 * Mark the lines of a[a0..a1) and b[b0..b1) that a longest common subsequence leaves out: those
 * are the lines deleted from a and added from b.
 */
function markChanges(a: readonly string[], a0: number, a1: number, b: readonly string[], b0: number, b1: number, changedA: Uint8Array, changedB: Uint8Array): void {
  while (a0 < a1 && b0 < b1 && a[a0] === b[b0]) { a0++; b0++; }
  while (a0 < a1 && b0 < b1 && a[a1 - 1] === b[b1 - 1]) { a1--; b1--; }
  const n = a1 - a0, m = b1 - b0;
  if (n === 0 || m === 0 || n * m > MAX_LCS_CELLS) {
    changedA.fill(1, a0, a1);
    changedB.fill(1, b0, b1);
    return;
  }
  // lcs[i][j] = LCS length of a[a0+i..a1) and b[b0+j..b1); ≤ min(n, m) ≤ 2,000 fits 16 bits.
  const w = m + 1;
  const lcs = new Uint16Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[a0 + i] === b[b0 + j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[a0 + i] === b[b0 + j]) { i++; j++; }
    else if (lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!) changedA[a0 + i++] = 1;
    else changedB[b0 + j++] = 1;
  }
  changedA.fill(1, a0 + i, a1);
  changedB.fill(1, b0 + j, b1);
}

/**
 * The ed commands turning `base` into `target`. Consensuses list their relays sorted by identity,
 * so (as tor's generator does) the two are aligned on the entries both list and only the stretches
 * between those anchors are compared line by line: near-linear for a whole network.
 */
function edCommands(base: readonly string[], target: readonly string[]): EdCommand[] {
  const changedA = new Uint8Array(base.length);
  const changedB = new Uint8Array(target.length);
  const ra = routerLines(base, 'base');
  const rb = routerLines(target, 'target');
  let startA = 0, startB = 0;
  let ia = 0, ib = 0;
  while (ia < ra.length && ib < rb.length) {
    const c = compareIdentities(ra[ia]!.id, rb[ib]!.id);
    if (c < 0) { ia++; continue; }
    if (c > 0) { ib++; continue; }
    // A relay both list: everything before its entry is one stretch to compare.
    markChanges(base, startA, ra[ia]!.index, target, startB, rb[ib]!.index, changedA, changedB);
    startA = ra[ia]!.index;
    startB = rb[ib]!.index;
    ia++;
    ib++;
  }
  markChanges(base, startA, base.length, target, startB, target.length, changedA, changedB);

  // From the end backwards: each run of changed lines becomes one d, a or c.
  const commands: EdCommand[] = [];
  let i = base.length - 1, j = target.length - 1;
  while (i >= 0 || j >= 0) {
    if (!(i >= 0 && changedA[i]) && !(j >= 0 && changedB[j])) { i--; j--; continue; }
    const endA = i, endB = j;
    while (i >= 0 && changedA[i]) i--;
    while (j >= 0 && changedB[j]) j--;
    const deleted = endA - i, added = endB - j;
    const lines = target.slice(j + 1, endB + 1);
    if (lines.includes('.')) throw new ConsensusDiffError('cannot-generate', 'a line to insert is "." (the end marker of ed insertions)');
    if (added === 0) commands.push({ action: 'd', start: i + 2, end: endA + 1, lines: [] });
    else if (deleted === 0) commands.push({ action: 'a', start: i + 1, end: i + 1, lines });
    else commands.push({ action: 'c', start: i + 2, end: endA + 1, lines });
  }
  return commands;
}

function commandText(cmd: EdCommand): string {
  const range = cmd.end === cmd.start ? `${cmd.start}` : `${cmd.start},${cmd.end}`;
  return cmd.lines.length === 0 ? `${range}${cmd.action}` : `${range}${cmd.action}\n${cmd.lines.join('\n')}\n.`;
}

/**
 * A diff turning the consensus `base` into `target`, in the form tor's caches serve and tor's and
 * Arti's clients apply. The base's signatures are deleted first (they are not part of what FROM
 * covers, so another copy of the same consensus may carry other ones). The script is applied once
 * here to prove it right. Throws ConsensusDiffError ('cannot-generate').
 */
export function generateConsensusDiff(base: string, target: string): string {
  const baseLines = splitLines(base, 'the base consensus', 'cannot-generate');
  const targetLines = splitLines(target, 'the target consensus', 'cannot-generate');
  const sigAt = baseLines.findIndex((l) => l.startsWith('directory-signature '));
  const unsigned = sigAt < 0 ? baseLines : baseLines.slice(0, sigAt);
  const commands: EdCommand[] = [];
  if (sigAt >= 0) commands.push({ action: 'd', start: sigAt + 1, end: sigAt + 1 < baseLines.length ? '$' : sigAt + 1, lines: [] });
  commands.push(...edCommands(unsigned, targetLines));
  const check = joinLines(applyEd(baseLines, commands));
  if (check !== target) throw new ConsensusDiffError('cannot-generate', 'the generated script does not reproduce the target (a bug)');
  const header = `${CONSENSUS_DIFF_VERSION_LINE}\nhash ${toHex(consensusDigestAsSigned(base)).toUpperCase()} ${toHex(consensusDigest(target)).toUpperCase()}\n`;
  return header + commands.map((c) => `${commandText(c)}\n`).join('');
}
