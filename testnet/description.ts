/**
 * The network's description, DIR/network.json: everything a test, a bench or `npm start` needs to
 * reach the network without parsing tor's files. Its format is shared with every consumer (and
 * with networks already running), so fields are only ever added.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestnetError } from './errors.ts';
import { VOTING_INTERVAL_SECONDS, type Role, type TorKind } from './plan.ts';
import type { PathInfo, WebPath } from './web-content.ts';

export const DESCRIPTION_FILE = 'network.json';

export interface AuthorityDescription {
  readonly nickname: string;
  /** The exact torrc line other tors (and Telescope's config) use for this authority. */
  readonly dirAuthorityLine: string;
  /** Hex SHA-1 of the v3 authority identity key. */
  readonly v3ident: string;
  /** Hex RSA identity fingerprint of the authority's relay. */
  readonly fingerprint: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
}

export interface RelayDescription {
  readonly nickname: string;
  /** Hex RSA identity fingerprint, upper case. */
  readonly fingerprint: string;
  /** Ed25519 master identity key, standard base64 with padding (32 bytes). */
  readonly ed25519Identity: string;
  /** Current ntor onion key (curve25519), standard base64 with padding (32 bytes). */
  readonly ntorOnionKey: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  readonly roles: readonly Role[];
  /** Configured exit policy rules, in order. */
  readonly exitPolicy: readonly string[];
  /** Flags the consensus gave this relay when the network came up. */
  readonly flags: readonly string[];
}

export interface TorProcessDescription {
  readonly nickname: string;
  readonly kind: TorKind | 'web';
  readonly pid: number;
  /** The tor's DataDirectory (for the web server: its folder). */
  readonly dir: string;
  /** notice-level log (for the web server: its stdout). */
  readonly log: string;
}

export interface TestnetDescription {
  readonly dir: string;
  readonly torVersion: string;
  readonly authorities: readonly AuthorityDescription[];
  readonly relays: readonly RelayDescription[];
  readonly onionService: { readonly nickname: string; readonly address: string; readonly port: 80 };
  readonly client: { readonly nickname: string; readonly socksPort: number };
  readonly web: {
    readonly address: '127.0.0.1';
    readonly port: number;
    /** UDP port of the exits' DNS responder: "localhost" is 127.0.0.1, every other name NXDOMAIN. */
    readonly dnsPort: number;
    readonly paths: Record<WebPath, PathInfo>;
  };
  /** Every process the harness started; stopTestnet kills exactly these. */
  readonly pids: readonly number[];
  readonly processes: readonly TorProcessDescription[];
  /** Voting interval of the authorities in seconds (onion-service time periods follow it). */
  readonly votingIntervalSeconds: number;
  readonly startedAt: string;
  /**
   * The process whose end ends the network (StartOptions.ownerPid), absent for a network that is
   * meant to outlive its starter (`npm run testnet -- up`).
   */
  readonly ownerPid?: number;
  /** False while the harness is still bringing the network up (or if it failed). */
  readonly ready: boolean;
}

export function readDescription(dir: string): TestnetDescription | undefined {
  const file = join(dir, DESCRIPTION_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TestnetDescription;
  } catch (err) {
    throw new TestnetError(`${file} is not a network description: ${(err as Error).message}`, { cause: err });
  }
}

/** Write then rename, so a reader (another test worker, `npm run testnet -- status`) never sees half a file. */
export async function writeDescription(absDir: string, d: TestnetDescription): Promise<void> {
  const file = join(absDir, DESCRIPTION_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(d, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/**
 * The description of a network while the harness brings it up. It is written after every step
 * that starts a process, so that whoever stops a half-started network (`npm run testnet -- down`,
 * the next start in the same directory) finds every pid; `ready` turns true at the end.
 */
export class DescriptionDraft {
  private readonly processes: TorProcessDescription[] = [];
  private authorities: readonly AuthorityDescription[] = [];
  private relays: readonly RelayDescription[] = [];
  private onionAddress = '';
  private webPort = 0;
  private dnsPort = 0;

  constructor(
    private readonly fixed: {
      readonly dir: string;
      readonly torVersion: string;
      readonly startedAt: Date;
      readonly ownerPid: number | undefined;
      readonly onionNickname: string;
      readonly client: { readonly nickname: string; readonly socksPort: number };
      readonly webPaths: Record<WebPath, PathInfo>;
    },
  ) {}

  /** Pids of every process started so far. */
  pids(): number[] {
    return this.processes.map((p) => p.pid);
  }

  addProcess(p: TorProcessDescription): void {
    this.processes.push(p);
  }

  setAuthorities(a: readonly AuthorityDescription[]): void {
    this.authorities = a;
  }

  setWeb(ports: { http: number; dns: number }): void {
    this.webPort = ports.http;
    this.dnsPort = ports.dns;
  }

  setRelays(r: readonly RelayDescription[]): void {
    this.relays = r;
  }

  setOnionAddress(address: string): void {
    this.onionAddress = address;
  }

  snapshot(ready: boolean): TestnetDescription {
    const f = this.fixed;
    return {
      dir: f.dir,
      torVersion: f.torVersion,
      authorities: this.authorities,
      relays: this.relays,
      onionService: { nickname: f.onionNickname, address: this.onionAddress, port: 80 },
      client: f.client,
      web: { address: '127.0.0.1', port: this.webPort, dnsPort: this.dnsPort, paths: f.webPaths },
      pids: this.pids(),
      processes: [...this.processes],
      votingIntervalSeconds: VOTING_INTERVAL_SECONDS,
      startedAt: f.startedAt.toISOString(),
      ...(f.ownerPid === undefined ? {} : { ownerPid: f.ownerPid }),
      ready,
    };
  }

  /** Write the description as it stands to DIR/network.json, and return it. */
  async write(ready: boolean): Promise<TestnetDescription> {
    const d = this.snapshot(ready);
    await writeDescription(this.fixed.dir, d);
    return d;
  }
}
