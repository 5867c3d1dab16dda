import type { Attack, AttackReport } from '../harness.ts';
import { floodTowardsNextHop, slowReader } from './backpressure.ts';
import { circuitExhaustion } from './circuit-exhaustion.ts';
import { dirAmplification } from './dir-amplification.ts';
import { exitHygiene } from './exit-hygiene.ts';
import { exitReset } from './exit-reset.ts';
import { oneHopExit } from './one-hop-exit.ts';
import { byteByByteVersions, idleConnections, slowloris, unfinishedTls } from './pre-handshake.ts';

/**
 * Every attack by name, with its options as plain data: the attacker runs in a process of its own
 * (attack-process.ts), so that its busy loops cost the relay, not the honest client's event loop.
 */
export const ATTACKS = {
  exitReset: (o: Parameters<typeof exitReset>[0]) => exitReset(o),
  oneHopExit: (o: Parameters<typeof oneHopExit>[0]) => oneHopExit(o),
  exitHygiene: (o: Parameters<typeof exitHygiene>[0]) => exitHygiene(o),
  circuitExhaustion: (o: Parameters<typeof circuitExhaustion>[0]) => circuitExhaustion(o),
  dirAmplification: (o: Parameters<typeof dirAmplification>[0]) => dirAmplification(o),
  slowReader: (o: Parameters<typeof slowReader>[0]) => slowReader(o),
  floodTowardsNextHop: (o: Parameters<typeof floodTowardsNextHop>[0]) => floodTowardsNextHop(o),
  byteByByteVersions: (o: Parameters<typeof byteByByteVersions>[0]) => byteByByteVersions(o),
  slowloris: (o: Parameters<typeof slowloris>[0]) => slowloris(o),
  unfinishedTls: (o: Parameters<typeof unfinishedTls>[0]) => unfinishedTls(o),
  idleConnections: (o: Parameters<typeof idleConnections>[0]) => idleConnections(o),
} satisfies Record<string, (o: never) => Attack>;

export type AttackName = keyof typeof ATTACKS;

/** An attack to run, by name, with its options; R is the report it gives. */
export interface AttackSpec<N extends AttackName = AttackName> {
  readonly name: N;
  readonly options: Parameters<(typeof ATTACKS)[N]>[0];
}

export type ReportOf<N extends AttackName> = ReturnType<(typeof ATTACKS)[N]> extends Attack<infer R> ? R : AttackReport;

export function attack<N extends AttackName>(name: N, options: Parameters<(typeof ATTACKS)[N]>[0]): AttackSpec<N> {
  return { name, options };
}
