/**
 * Port policies: the summarized exit policies that consensuses ("p") and microdescriptors ("p",
 * "p6") carry, and router descriptors' "ipv6-policy" (dir-spec §3.4.2, §3.8.2).
 */
import { ProtocolError, UsageError } from '../util/index.ts';
import { checkPort } from './rule.ts';

/** tor refuses summaries with more entries than this; it also bounds the work on hostile input. */
const MAX_SUMMARY_ENTRIES = 1000;

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/**
 * A summarized exit policy ("accept 80,443" / "reject 25,119"): the ports a relay accepts for most
 * addresses. Microdescriptors carry one per family; a missing "p" or "p6" means reject 1-65535.
 */
export class PortPolicy {
  static readonly REJECT_ALL = new PortPolicy(false, [{ min: 1, max: 65535 }]);
  static readonly ACCEPT_ALL = new PortPolicy(true, [{ min: 1, max: 65535 }]);

  readonly accept: boolean;
  readonly ranges: readonly PortRange[];

  constructor(accept: boolean, ranges: readonly PortRange[]) {
    if (ranges.length === 0) throw new UsageError('a port policy lists at least one port range');
    for (const r of ranges) {
      if (!Number.isInteger(r.min) || !Number.isInteger(r.max) || r.min < 1 || r.min > r.max || r.max > 65535) {
        throw new UsageError(`bad port range ${r.min}-${r.max}`);
      }
    }
    this.accept = accept;
    this.ranges = Object.freeze(ranges.map((r) => Object.freeze({ min: r.min, max: r.max })));
  }

  /** Whether the relay exits to this port for most addresses (never for port 0). */
  allowsPort(port: number): boolean {
    checkPort(port);
    if (port === 0) return false;
    const listed = this.ranges.some((r) => port >= r.min && port <= r.max);
    return listed === this.accept;
  }

  /** True if no port is allowed at all. */
  rejectsAll(): boolean {
    if (this.accept) return false;
    // The ranges need not be sorted or disjoint: walk them in order of their start.
    const sorted = [...this.ranges].sort((a, b) => a.min - b.min);
    let next = 1;
    for (const r of sorted) {
      if (r.min > next) return false;
      next = Math.max(next, r.max + 1);
    }
    return next > 65535;
  }

  /** The summary text, e.g. "accept 80,443,1000-2000". */
  toString(): string {
    return `${this.accept ? 'accept' : 'reject'} ${this.ranges.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',')}`;
  }
}

const PORT_CONTEXT = 'port policy';

/**
 * Parses a summary: "accept 80,443", or a whole "p accept 80,443" / "p6 ..." / "ipv6-policy ..."
 * line. Like tor, items that do not start with a digit are skipped (so future formats can be
 * added), while an item that starts with a digit and is not a port or a port range makes the whole
 * summary invalid.
 */
export function parsePortPolicy(text: string): PortPolicy {
  let s = text.trim();
  const keyword = /^(p|p6|ipv6-policy)[ \t]+/.exec(s);
  if (keyword) s = s.slice(keyword[0].length);
  let accept: boolean;
  if (s.startsWith('accept ')) accept = true;
  else if (s.startsWith('reject ')) accept = false;
  else throw new ProtocolError(PORT_CONTEXT, `expected "accept PORTS" or "reject PORTS", got '${text.slice(0, 40)}'`);
  s = s.slice('accept '.length);

  const ranges: PortRange[] = [];
  let at = 0;
  const readNumber = (): number | undefined => {
    const m = /^[0-9]+/.exec(s.slice(at, at + 12));
    if (!m) return undefined;
    at += m[0].length;
    // A run of digits longer than what was sliced is out of range anyway.
    if (/^[0-9]/.test(s.slice(at, at + 1))) return Infinity;
    return Number(m[0]);
  };
  while (at < s.length) {
    if (!/[0-9]/.test(s[at]!)) {
      // Not a port: skip this item.
      const comma = s.indexOf(',', at);
      if (comma === -1) break;
      at = comma + 1;
      continue;
    }
    if (ranges.length === MAX_SUMMARY_ENTRIES) throw new ProtocolError(PORT_CONTEXT, 'too many entries');
    const bad = (): ProtocolError => new ProtocolError(PORT_CONTEXT, `bad entry in '${text.slice(0, 60)}'`, at);
    const low = readNumber();
    if (low === undefined || low < 1 || low > 65535) throw bad();
    let high = low;
    if (s[at] === '-') {
      at++;
      const h = readNumber();
      if (h === undefined || h < low || h > 65535) throw bad();
      high = h;
    }
    if (at < s.length) {
      if (s[at] !== ',') throw bad();
      at++;
    }
    ranges.push({ min: low, max: high });
  }
  if (ranges.length === 0) throw new ProtocolError(PORT_CONTEXT, `no port ranges in '${text.slice(0, 60)}'`);
  return new PortPolicy(accept, ranges);
}
