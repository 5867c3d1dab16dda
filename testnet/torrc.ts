/**
 * The torrc of every tor in the private network, and the other files the tors read (the
 * authorities' bandwidth file, the exits' resolv.conf). Pure functions: the harness allocates
 * ports and creates keys (plan.ts, keys.ts) and hands the results in.
 *
 * Everything listens on and connects from 127.0.0.1. Exits bind outgoing sockets to 127.0.0.1
 * (OutboundBindAddress), which the kernel cannot route off the machine, and resolve names through a
 * resolv.conf that names only 127.0.0.1, so neither traffic nor DNS can leave the host even though
 * their exit policies accept `*:*` (an exit that only accepts 127/8 gets the microdescriptor summary
 * "reject 1-65535" and no client would pick it).
 */
import { VOTING_INTERVAL_SECONDS } from './plan.ts';

/** A relay (authority or not) once its ports and identity are known. */
export interface RelayKeys {
  readonly nickname: string;
  /** Hex RSA identity fingerprint, upper case, no spaces. */
  readonly fingerprint: string;
  readonly orPort: number;
  readonly dirPort: number;
}

export interface AuthorityKeys extends RelayKeys {
  /** Hex SHA-1 of the v3 authority identity key (the `fingerprint` line of its key certificate). */
  readonly v3ident: string;
}

/** The torrc `DirAuthority` line every tor of the network uses to find this authority. */
export function dirAuthorityLine(a: AuthorityKeys): string {
  return `DirAuthority ${a.nickname} orport=${a.orPort} no-v2 v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`;
}

/**
 * The authorities' bandwidth file (bandwidth-file-spec 1.0.0: a timestamp line, then one line per
 * relay). Measured bandwidths make the consensus weights deterministic instead of depending on what
 * the relays self-report during the first minute.
 */
export function bandwidthFile(relays: readonly { fingerprint: string; bandwidth: number }[], now: Date): string {
  const lines = [String(Math.floor(now.getTime() / 1000))];
  for (const r of relays) lines.push(`node_id=$${r.fingerprint} bw=${r.bandwidth}`);
  return `${lines.join('\n')}\n`;
}

/**
 * resolv.conf for the exits: only the harness's loopback DNS responder (libevent's resolver, which
 * tor uses, accepts `address:port` here), so DNS never leaves the machine.
 */
export function resolvConf(dnsPort: number): string {
  return `nameserver 127.0.0.1:${dnsPort}\n`;
}

interface CommonInput {
  readonly nickname: string;
  readonly dataDir: string;
  readonly authorities: readonly AuthorityKeys[];
  /** Also log at info level to DataDir/info.log (large: only where the harness needs it). */
  readonly infoLog?: boolean;
}

function common(input: CommonInput): string[] {
  return [
    `# ${input.nickname}: written by the Telescope test-network harness (testnet/)`,
    'TestingTorNetwork 1',
    `DataDirectory ${input.dataDir}`,
    'RunAsDaemon 0',
    `Nickname ${input.nickname}`,
    `Log notice file ${input.dataDir}/notice.log`,
    // The onion service's descriptor uploads are reported only at info level.
    ...(input.infoLog ? [`Log info file ${input.dataDir}/info.log`] : []),
    'SafeLogging 0',
    'Sandbox 0',
    // Every tor of the network connects only from loopback.
    'OutboundBindAddress 127.0.0.1',
    'ClientUseIPv6 0',
    // The network's own authorities: this also turns off the default authorities and fallbacks.
    ...input.authorities.map(dirAuthorityLine),
  ];
}

export interface RelayTorrcInput extends CommonInput {
  readonly kind: 'authority' | 'relay';
  readonly orPort: number;
  readonly dirPort: number;
  readonly exitPolicy: readonly string[];
  readonly isExit: boolean;
  readonly resolvConf: string;
  /** For authorities: the bandwidth file and the relays whose flags are forced. */
  readonly bandwidthFile?: string;
  readonly guards?: readonly string[];
  readonly exits?: readonly string[];
  readonly hsdirs?: readonly string[];
}

const routerset = (fprs: readonly string[]): string => fprs.map((f) => `$${f}`).join(',');

export function relayTorrc(input: RelayTorrcInput): string {
  const lines = [
    ...common(input),
    `ContactInfo Telescope test network <${input.nickname}@localhost>`,
    'Address 127.0.0.1',
    `ORPort 127.0.0.1:${input.orPort}`,
    `DirPort 127.0.0.1:${input.dirPort}`,
    'SocksPort 0',
    // Authorities cannot test reachability of a loopback-only network the usual way; and 0.4.9
    // does not take this from TestingTorNetwork.
    'AssumeReachable 1',
    `ExitRelay ${input.isExit ? 1 : 0}`,
    ...input.exitPolicy.map((rule) => `ExitPolicy ${rule}`),
    // Without this an exit refuses 127.0.0.1, the only address the web server has.
    'ExitPolicyRejectPrivate 0',
    `ServerDNSResolvConfFile ${input.resolvConf}`,
    // Hijack detection looks up well-known names on the internet; there is none here.
    'ServerDNSDetectHijacking 0',
    'ServerDNSAllowBrokenConfig 1',
  ];
  if (input.kind === 'authority') {
    lines.push(
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      // A vote every 20 s (the default testing value is 5 min), from the very first round.
      `V3AuthVotingInterval ${VOTING_INTERVAL_SECONDS}`,
      'V3AuthVoteDelay 4',
      'V3AuthDistDelay 4',
      `TestingV3AuthInitialVotingInterval ${VOTING_INTERVAL_SECONDS}`,
      'TestingV3AuthInitialVoteDelay 4',
      'TestingV3AuthInitialDistDelay 4',
      'TestingV3AuthVotingStartOffset 0',
      'AuthDirVoteStableGuaranteeMinUptime 0',
      'TestingMinExitFlagThreshold 0',
      'TestingMinFastFlagThreshold 0',
    );
    if (input.bandwidthFile) lines.push(`V3BandwidthsFile ${input.bandwidthFile}`);
    // Forced flags: which relay is a guard or an exit must not depend on timing.
    if (input.guards?.length) lines.push(`TestingDirAuthVoteGuard ${routerset(input.guards)}`, 'TestingDirAuthVoteGuardIsStrict 1');
    if (input.exits?.length) lines.push(`TestingDirAuthVoteExit ${routerset(input.exits)}`, 'TestingDirAuthVoteExitIsStrict 1');
    if (input.hsdirs?.length) lines.push(`TestingDirAuthVoteHSDir ${routerset(input.hsdirs)}`, 'TestingDirAuthVoteHSDirIsStrict 1');
  }
  return `${lines.join('\n')}\n`;
}

export interface ClientTorrcInput extends CommonInput {
  readonly socksPort: number;
}

/** The comparison client: a plain tor client with a SocksPort and conflux off (like for like). */
export function clientTorrc(input: ClientTorrcInput): string {
  return `${[
    ...common(input),
    `SocksPort 127.0.0.1:${input.socksPort}`,
    'ConfluxEnabled 0',
  ].join('\n')}\n`;
}

export interface OnionServiceTorrcInput extends CommonInput {
  readonly hiddenServiceDir: string;
  readonly webPort: number;
}

/** A v3 onion service publishing the web server as port 80. */
export function onionServiceTorrc(input: OnionServiceTorrcInput): string {
  return `${[
    ...common(input),
    'SocksPort 0',
    `HiddenServiceDir ${input.hiddenServiceDir}`,
    'HiddenServiceVersion 3',
    `HiddenServicePort 80 127.0.0.1:${input.webPort}`,
  ].join('\n')}\n`;
}
