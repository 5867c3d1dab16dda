import { fromHex } from '../bytes/index.ts';
import { parseIp } from '../addr/index.ts';
import { Circuit, type CircuitOptions, type RelayTarget } from '../circuit/index.ts';
import type { NetDir, NetRelay } from '../netdir/index.ts';
import { checkDescriptorIdentity, parseBridgeDescriptor, ProtocolList } from '../netdoc/index.ts';
import { UsageError, type Logger } from '../util/index.ts';
import type { ChannelPool } from './channel-pool.ts';
import { dirGet } from './dir-http.ts';
import type { BridgeInfo } from '../config/index.ts';

export type { BridgeInfo };

/** A bridge as a circuit's first hop; its ntor key must be known. */
export function bridgeTarget(b: BridgeInfo): RelayTarget {
  if (!b.ntorOnionKey) throw new UsageError(`bridge ${b.fingerprint}: ntor key not known yet`);
  // A WebSocket bridge may be named by host name: the transport dials its URL, and as the first
  // hop its address never goes into an EXTEND2, so 0.0.0.0 stands in for it.
  const parsed = parseIp(b.address);
  const v4 = parsed?.family === 4 ? parsed.bytes : new Uint8Array(4);
  return {
    nickname: 'bridge',
    rsaIdentity: fromHex(b.fingerprint),
    ntorOnionKey: b.ntorOnionKey,
    ipv4: { address: v4, port: b.port },
    ...(b.ed25519Identity ? { ed25519Identity: b.ed25519Identity } : {}),
  };
}

/**
 * With bridges, the bridges are the only guards: the network view gets them as Guard relays and
 * loses the Guard flag everywhere else.
 */
export function withBridges(dir: NetDir, bridges: readonly BridgeInfo[]): NetDir {
  const bridgeRelays: NetRelay[] = bridges.map((b) => {
    const t = bridgeTarget(b);
    const listed = dir.relays.find((r) => r.fingerprint === b.fingerprint.toUpperCase());
    return {
      nickname: listed?.nickname ?? 'bridge',
      rsaIdentity: t.rsaIdentity,
      fingerprint: b.fingerprint.toUpperCase(),
      ed25519Identity: t.ed25519Identity,
      ntorOnionKey: t.ntorOnionKey,
      ipv4: t.ipv4!,
      ipv6: undefined,
      dirPort: 0,
      flags: new Set(['Guard', 'Running', 'Valid', 'Fast', 'Stable', 'V2Dir']),
      bandwidth: 1,
      family: listed?.family ?? [],
      familyIds: listed?.familyIds ?? [],
      exitPolicy: { allowsPort: () => false },
      // A bridge outside the consensus advertises nothing we know of; it is only ever a first hop.
      protocols: listed?.protocols ?? ProtocolList.EMPTY,
    };
  });
  const others = dir.relays
    .filter((r) => !bridgeRelays.some((b) => b.fingerprint === r.fingerprint))
    .map((r) => (r.flags.has('Guard') ? { ...r, flags: new Set([...r.flags].filter((f) => f !== 'Guard')) } : r));
  return { ...dir, relays: [...bridgeRelays, ...others] };
}

/**
 * For a bridge given without its ntor key (a plain tor `Bridge IP:PORT FINGERPRINT` line), fetch
 * the bridge's descriptor from the bridge itself over a CREATE_FAST one-hop circuit, as tor does:
 * the link handshake has already proven the bridge's identity. Returns the bridge with its keys.
 */
export async function learnBridgeKey(
  pool: ChannelPool,
  b: BridgeInfo,
  opts: { readonly log: Logger; readonly circuitOptions?: CircuitOptions; readonly progress?: (percent: number, tag: string, summary: string) => void },
): Promise<BridgeInfo> {
  const v4 = parseIp(b.address)?.bytes;
  if (!v4 || v4.length !== 4) throw new UsageError(`bridge address ${b.address} is not an IPv4 address`);
  const rsaIdentity = fromHex(b.fingerprint);
  opts.progress?.(5, 'conn', `Connecting to bridge ${b.address}:${b.port}`);
  // The channel needs only the identity to check; the (unknown) ntor key is never used on it.
  const channel = await pool.get({ rsaIdentity, ntorOnionKey: new Uint8Array(32), ipv4: { address: v4, port: b.port } });
  opts.progress?.(10, 'handshake_done', `Handshake with bridge ${b.address}:${b.port} done`);
  const circuit = await Circuit.createFast(channel, opts.circuitOptions);
  try {
    const body = await dirGet(await circuit.openDirStream({ timeoutMs: 30_000 }), '/tor/server/authority');
    const desc = parseBridgeDescriptor(body);
    checkDescriptorIdentity(desc, rsaIdentity);
    opts.log.notice(`learnt the ntor key of bridge ${desc.nickname} (${desc.fingerprint}) from its descriptor`);
    return { ...b, ntorOnionKey: desc.ntorOnionKey, ...(desc.ed25519Identity ? { ed25519Identity: desc.ed25519Identity } : {}) };
  } finally {
    circuit.destroy();
  }
}
