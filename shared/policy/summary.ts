/**
 * Summaries: the port policy directory authorities publish for a relay's full exit policy
 * (dir-spec §3.4.2 and §3.8.2). Which rejects count and how an over-long summary is cut follow
 * tor's observable behaviour, checked against fixtures/exit-policy-vectors.json.
 */
import { sameIp } from '../addr/index.ts';
import type { ExitPolicy } from './exit-policy.ts';
import { PortPolicy, type PortRange } from './port-policy.ts';
import { PRIVATE_RULES, type AddressFamily, type ExitPolicyRule } from './rule.ts';

/** dir-spec §3.8.2: a summary, "accept "/"reject " included, is at most 1000 characters. */
const MAX_SUMMARY_LEN = 1000;

// Summaries count, per port, how many addresses the rejects before an accept cover. A port is
// published as accepted if a wildcard accept reaches it while at most two IPv4 /8s (2^25
// addresses), or one IPv6 /16 (2^48 /64s; blocks smaller than a /64 do not count), are rejected
// for it (dir-spec §3.4.2 and tor's reading of it for IPv6).
const IPV4_CUTOFF = 2 ** 25;
const IPV6_CUTOFF = 2 ** 48;

interface Segment {
  min: number;
  max: number;
  rejected: number;
  accepted: boolean;
}

/** Splits segments so that one starts at lo and one ends at hi; returns the index of the first. */
function splitSegments(segs: Segment[], lo: number, hi: number): number {
  let i = 0;
  while (segs[i]!.max < lo) i++;
  if (segs[i]!.min !== lo) {
    const s = segs[i]!;
    segs.splice(i + 1, 0, { ...s, min: lo });
    s.max = lo - 1;
    i++;
  }
  const first = i;
  while (segs[i]!.max < hi) i++;
  if (segs[i]!.max !== hi) {
    const s = segs[i]!;
    segs.splice(i + 1, 0, { ...s, min: hi + 1 });
    s.max = hi;
  }
  return first;
}

function isPrivateRule(r: ExitPolicyRule): boolean {
  return PRIVATE_RULES.some((p) => p.family === r.family && p.maskBits === r.maskBits && sameIp(p.bytes, r.address));
}

/**
 * The summary of a full policy for one family, as directory authorities compute it for "p" (IPv4)
 * and "p6" (IPv6): accepts for part of the address space are ignored, rejects of exactly the
 * private networks are ignored, the shorter of the accept and reject lists is published (accept on
 * a tie), and an over-long summary becomes an accept list cut at the last whole item.
 */
export function summarize(policy: ExitPolicy, family: AddressFamily = 4): PortPolicy {
  const segs: Segment[] = [{ min: 1, max: 65535, rejected: 0, accepted: false }];
  const cutoff = family === 4 ? IPV4_CUTOFF : IPV6_CUTOFF;
  for (const r of policy.rules) {
    if (r.family !== family) continue;
    if (r.action === 'accept') {
      if (r.maskBits !== 0) continue;
      for (let i = splitSegments(segs, r.portMin, r.portMax); i < segs.length && segs[i]!.max <= r.portMax; i++) {
        const s = segs[i]!;
        if (!s.accepted && s.rejected <= cutoff) s.accepted = true;
      }
    } else {
      if (isPrivateRule(r)) continue;
      let count: number;
      if (family === 4) count = 2 ** (32 - r.maskBits);
      else if (r.maskBits > 64) continue; // too small to ever matter
      else count = r.maskBits === 0 ? Infinity : 2 ** (64 - r.maskBits);
      for (let i = splitSegments(segs, r.portMin, r.portMax); i < segs.length && segs[i]!.max <= r.portMax; i++) {
        segs[i]!.rejected += count;
      }
    }
  }

  // Merge neighbours with the same outcome into ranges.
  const accepts: PortRange[] = [];
  const rejects: PortRange[] = [];
  let start = 1;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const next = segs[i + 1];
    if (next !== undefined && next.accepted === s.accepted) continue;
    (s.accepted ? accepts : rejects).push({ min: start, max: s.max });
    start = s.max + 1;
  }
  if (accepts.length === 0) return PortPolicy.REJECT_ALL;
  if (rejects.length === 0) return PortPolicy.ACCEPT_ALL;

  const text = (rs: readonly PortRange[]): string =>
    rs.map((r) => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`)).join(',');
  const acceptText = text(accepts);
  const rejectText = text(rejects);
  const room = MAX_SUMMARY_LEN - 'accept '.length; // the same for "reject "
  if (acceptText.length > room && rejectText.length > room) {
    // Keep the items that fit whole: cut at the last comma within the room.
    const cut = acceptText.lastIndexOf(',', room);
    const kept = acceptText.slice(0, cut).split(',').length;
    return new PortPolicy(true, accepts.slice(0, kept));
  }
  return rejectText.length < acceptText.length ? new PortPolicy(false, rejects) : new PortPolicy(true, accepts);
}
