import { parseIp } from '../addr/index.ts';
import type { Consensus, Microdesc } from '../netdoc/index.ts';
import { parsePortPolicy, type PortPolicy } from '../policy/index.ts';
import { ListInterner } from '../util/index.ts';
import { fingerprintOf, type NetDir, type NetRelay } from './netdir.ts';

/**
 * Join a verified consensus with its microdescriptors into the client's network view. At the live
 * network's size (~9,700 relays) what many relays share is built once and shared: a family's
 * member list (identical in every member's microdescriptor, hundreds long for the largest
 * families) and an exit-policy summary; protocol lists are the consensus' own, already shared.
 */
export function buildNetDir(consensus: Consensus, microdescs: ReadonlyMap<string, Microdesc>): NetDir {
  const relays: NetRelay[] = [];
  const families = new Map<readonly string[], readonly string[]>();
  const interner = new ListInterner();
  const family = (raw: readonly string[]) => {
    let members = families.get(raw);
    if (!members) families.set(raw, (members = interner.share(raw.map((f) => f.replace(/^\$/, '').split(/[~=]/)[0]!.toUpperCase()))));
    return members;
  };
  const policies = new Map<string, PortPolicy>();
  const policy = (summary: string) => {
    let p = policies.get(summary);
    if (!p) policies.set(summary, (p = parsePortPolicy(summary)));
    return p;
  };
  for (const rs of consensus.routers) {
    const md = microdescs.get(rs.microdescDigestBase64);
    if (!md) continue;
    const v4 = parseIp(rs.ipv4);
    if (v4?.family !== 4) continue;
    const a6 = rs.addresses.find((a) => a.family === 6);
    const v6 = a6 ? parseIp(a6.ip)?.bytes : undefined;
    relays.push({
      nickname: rs.nickname,
      rsaIdentity: rs.identity,
      fingerprint: fingerprintOf(rs.identity),
      ed25519Identity: md.ed25519Id,
      ntorOnionKey: md.ntorOnionKey,
      ipv4: { address: v4.bytes, port: rs.orPort },
      ipv6: v6 && a6 ? { address: v6, port: a6.port } : undefined,
      dirPort: rs.dirPort,
      flags: rs.flags,
      bandwidth: rs.bandwidth ?? 0,
      family: family(md.family),
      familyIds: md.familyIds,
      exitPolicy: policy(md.policySummary),
      protocols: rs.protocols,
    });
  }
  const srv = (v: { value: Uint8Array } | undefined) => v?.value;
  return {
    validAfter: consensus.validAfter,
    freshUntil: consensus.freshUntil,
    validUntil: consensus.validUntil,
    relays,
    params: consensus.params,
    weights: consensus.bandwidthWeights,
    sharedRandCurrent: srv(consensus.sharedRandCurrent),
    sharedRandPrevious: srv(consensus.sharedRandPrevious),
    votingIntervalSeconds: Math.round((consensus.freshUntil.getTime() - consensus.validAfter.getTime()) / 1000),
  };
}

