/**
 * The shape of the private network: which tors run, in which roles, under which nicknames, and
 * where each keeps its files and listens once ports are known. Pure: nothing here starts a process.
 */
import { join } from 'node:path';

export type Role = 'authority' | 'guard' | 'middle' | 'exit';
export type TorKind = 'authority' | 'relay' | 'onion-service' | 'client';

/** One tor process of the network, before ports and keys are known. */
export interface NodePlan {
  readonly nickname: string;
  readonly kind: TorKind;
  /** Roles in the consensus, for relays (empty for the client and the onion service). */
  readonly roles: readonly Role[];
  /** Configured exit policy, one rule per entry, for relays. */
  readonly exitPolicy: readonly string[];
  /** Relative weight in the authorities' bandwidth file (KB/s). */
  readonly bandwidth: number;
}

const NO_EXIT = ['reject *:*'] as const;

/**
 * Three authorities (also middles), two guards, one middle, two exits with different policies
 * (both allow the web server's port), one onion service, one client. Nicknames follow the
 * testNNNx pattern (a = authority, r = relay, e = exit, h = onion service, c = client).
 */
export const NETWORK_PLAN: readonly NodePlan[] = [
  { nickname: 'test000a', kind: 'authority', roles: ['authority', 'middle'], exitPolicy: NO_EXIT, bandwidth: 1000 },
  { nickname: 'test001a', kind: 'authority', roles: ['authority', 'middle'], exitPolicy: NO_EXIT, bandwidth: 1000 },
  { nickname: 'test002a', kind: 'authority', roles: ['authority', 'middle'], exitPolicy: NO_EXIT, bandwidth: 1000 },
  { nickname: 'test003r', kind: 'relay', roles: ['guard', 'middle'], exitPolicy: NO_EXIT, bandwidth: 2000 },
  { nickname: 'test004r', kind: 'relay', roles: ['guard', 'middle'], exitPolicy: NO_EXIT, bandwidth: 2000 },
  { nickname: 'test005r', kind: 'relay', roles: ['middle'], exitPolicy: NO_EXIT, bandwidth: 2000 },
  { nickname: 'test006e', kind: 'relay', roles: ['exit'], exitPolicy: ['accept *:*'], bandwidth: 2000 },
  { nickname: 'test007e', kind: 'relay', roles: ['exit'], exitPolicy: ['reject *:25', 'reject *:465', 'accept *:*'], bandwidth: 2000 },
  { nickname: 'test008h', kind: 'onion-service', roles: [], exitPolicy: [], bandwidth: 0 },
  { nickname: 'test009c', kind: 'client', roles: [], exitPolicy: [], bandwidth: 0 },
];

/** Voting interval of the authorities in seconds (20 s instead of tor's testing default of 5 min). */
export const VOTING_INTERVAL_SECONDS = 20;

/** The flags the authorities are told to give `plan` (TestingDirAuthVote*), plus Running and Valid. */
export function expectedFlags(plan: NodePlan): string[] {
  return [
    'Running',
    'Valid',
    'HSDir',
    ...(plan.roles.includes('guard') ? ['Guard'] : []),
    ...(plan.roles.includes('exit') ? ['Exit'] : []),
    ...(plan.kind === 'authority' ? ['Authority'] : []),
  ];
}

export const isRelay = (plan: NodePlan): boolean => plan.kind === 'authority' || plan.kind === 'relay';

/** One tor of the network with its files and ports, before its keys exist. */
export interface PlacedNode {
  readonly plan: NodePlan;
  readonly dataDir: string;
  readonly torrc: string;
  /** Its notice-level log. */
  readonly notice: string;
  /** 0 unless the node is a relay. */
  readonly orPort: number;
  readonly dirPort: number;
  /** 0 unless the node is the client. */
  readonly socksPort: number;
}

/** The network laid out in a directory: every node, and the files the whole network shares. */
export interface NetworkLayout {
  readonly dir: string;
  readonly nodes: readonly PlacedNode[];
  /** An empty file given to tor as --defaults-torrc, so no system torrc creeps in. */
  readonly emptyTorrc: string;
  /** The exits' resolv.conf (only the harness's DNS responder). */
  readonly resolvConf: string;
  /** The authorities' bandwidth file. */
  readonly bandwidthFile: string;
  /** The web server's folder (its port file and log). */
  readonly webDir: string;
}

/**
 * Place NETWORK_PLAN in `absDir`: each tor gets DIR/NICKNAME as its DataDirectory, and two of
 * `ports` (ORPort and DirPort for a relay, SocksPort for the client).
 */
export function layOut(absDir: string, ports: readonly number[]): NetworkLayout {
  if (ports.length < NETWORK_PLAN.length * 2) throw new RangeError(`layOut needs ${NETWORK_PLAN.length * 2} ports, got ${ports.length}`);
  const nodes = NETWORK_PLAN.map((plan, i): PlacedNode => {
    const dataDir = join(absDir, plan.nickname);
    return {
      plan,
      dataDir,
      torrc: join(dataDir, 'torrc'),
      notice: join(dataDir, 'notice.log'),
      orPort: isRelay(plan) ? (ports[2 * i] ?? 0) : 0,
      dirPort: isRelay(plan) ? (ports[2 * i + 1] ?? 0) : 0,
      socksPort: plan.kind === 'client' ? (ports[2 * i] ?? 0) : 0,
    };
  });
  return {
    dir: absDir,
    nodes,
    emptyTorrc: join(absDir, 'empty-torrc'),
    resolvConf: join(absDir, 'resolv.conf'),
    bandwidthFile: join(absDir, 'bandwidth.txt'),
    webDir: join(absDir, 'web'),
  };
}
