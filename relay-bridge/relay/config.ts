/**
 * The relay's configuration: `telescope relay -f FILE`, a torrc. The options are tor's, read as
 * tor's manual describes them, plus three of Telescope's own (WebSocketPort, MaxCircuits,
 * CreateRateLimit). The result is a typed RelayConfig with the effective exit policy worked out.
 *
 * Every problem is a ConfigError; those that belong to one line name it ("line 4: ORPort: ..."),
 * those about the file as a whole (no ORPort at all) name the option.
 *
 * Telescope's options:
 *
 *   WebSocketPort [ADDRESS:]PORT|auto [cert=FILE key=FILE] [path=/PATH]
 *       A listener browsers reach over WebSocket. With cert= and key= (PEM files: the certificate
 *       chain, e.g. Let's Encrypt's fullchain.pem, and its private key) it speaks wss://, without
 *       them plain ws:// (for a TLS-terminating proxy in front, or for tests on loopback). path=
 *       is the HTTP path of the endpoint (default "/"), as a Bridge line's URL names it. May be
 *       given more than once. File names cannot contain spaces.
 *   MaxCircuits N          (default 8192) circuits open at once through this relay; CREATE cells
 *                          beyond it are refused.
 *   CreateRateLimit N      (default 100) CREATE/CREATE2/CREATE_FAST cells accepted per second on
 *                          one connection; 0 turns the limit off. Applies to clients' connections
 *                          (not to relays in the consensus that authenticated).
 *   MaxConnections N       (default 4096) connections open at once through the ORPorts and
 *                          WebSocket ports together, handshakes included; beyond it new ones are
 *                          closed at once. Keeps the process below its file-descriptor limit.
 *
 * Denial-of-service defences, tor's options of the same names (tor's dos.c; see
 * shared/relay/dos.ts). Each numeric one set to 0 (the default), and each *Enabled one set to
 * auto (the default), takes the value from the consensus' params line, else tor's default; a
 * value here wins over the consensus, as in tor. Unlike tor, both defences default to on, also
 * on a bridge. Addresses of relays in the consensus are exempt.
 *
 *   DoSConnectionEnabled auto|0|1              per-address connection limits (default on)
 *   DoSConnectionMaxConcurrentCount N          connections open at once per address (100)
 *   DoSConnectionDefenseType 1|2               1: only count; 2: refuse (2)
 *   DoSConnectionConnectRate N                 connection attempts per second per address (20)
 *   DoSConnectionConnectBurst N                ... in one burst (40); an address that goes over
 *                                              is refused for the period below
 *   DoSConnectionConnectDefenseTimePeriod N    seconds, plus up to half again at random (86400;
 *                                              at least 10)
 *   DoSCircuitCreationEnabled auto|0|1         per-address circuit creation limit (default on)
 *   DoSCircuitCreationMinConnections N         only addresses with this many connections open
 *                                              are limited (3)
 *   DoSCircuitCreationRate N                   circuits per second per address (3)
 *   DoSCircuitCreationBurst N                  ... in one burst (90)
 *   DoSCircuitCreationDefenseType 1|2          1: only count; 2: refuse CREATE cells with
 *                                              DESTROY RESOURCELIMIT (2)
 *   DoSCircuitCreationDefenseTimePeriod N      seconds an address over the limit stays refused,
 *                                              plus up to half again at random (3600)
 *
 * Exit resources (Telescope's own; tor has no such caps). Over a cap a new exit stream is refused
 * with END RESOURCELIMIT (BEGIN and RESOLVE alike), the reason tor gives when it runs out of
 * sockets; streams already open are not touched:
 *
 *   MaxExitSockets N       (default 4096) exit TCP connections open or being opened at once,
 *                          relay-wide. Each holds a file descriptor; without a cap a client could
 *                          open them until the process runs out and the listeners fail.
 *   MaxConcurrentDnsLookups N
 *                          (default 64) exit DNS lookups (BEGIN to a name, RESOLVE) in flight at
 *                          once. Node resolves through libuv's small thread pool (4 threads), which
 *                          the relay's file I/O shares: lookups piled up behind slow names would
 *                          stall it. A lookup counts until the resolver answers, even when the
 *                          stream that asked is gone (a getaddrinfo call cannot be called back).
 *
 * Queued cells (tor's option and rules, see shared/relay/queue-memory.ts):
 *
 *   MaxMemInQueues N bytes|KB|MB|GB
 *                          (default 256 MB; 0: the default) memory for cells waiting to go out,
 *                          over all circuits. When it is reached, the circuits whose oldest queued
 *                          cell is oldest are destroyed until at most 90% is in use. As on a tor
 *                          relay, less than 64 MB is raised to 64 MB (with a warning), and less
 *                          than 256 MB is warned about. tor's default is 3/4 of the memory (at most
 *                          8 GB); 256 MB, tor's floor, suits a small server and a Node process.
 *   (Each circuit may also queue at most circ_max_cell_queue_size cells towards the client and
 *   circ_max_cell_queue_size_out towards the exit, from the consensus' params, 1250 without them;
 *   a circuit over it is destroyed. Not a torrc option, as in tor.)
 *
 * Protocol requirements (not a tor option; Arti's ignore_missing_required_protocols):
 *
 *   IgnoreMissingRequiredProtocols PROTOCOLS
 *                          ("Name=versions ..."; default none) required-relay-protocols the relay
 *                          may lack and still run. Without it a consensus that requires a relay
 *                          protocol Telescope does not implement stops the relay, as tor-spec says;
 *                          with it, and when everything missing is in this list, the relay logs the
 *                          missing protocols at warn and runs (clients will not choose it for what it
 *                          lacks). Tor 0.4.9's authorities require FlowCtrl=2 HSDir=2
 *                          HSIntro=4-5 HSRend=2 Relay=3-4 of relays, none of which Telescope's relay
 *                          has yet (README, "What the relay advertises").
 *
 * And tor's HeartbeatPeriod N [seconds|minutes|hours] (default 6 hours; 0: none): how often the
 * relay logs a status line at notice (circuits, channels, exit sockets and the count of
 * unexpected errors caught). The same line is logged on shutdown.
 */
import {
  ConfigError, directoryNetworkFrom, NETWORK_SCHEMA, parseTorrc, readTorrcEntries, type DirAuthorityLine, type PortSetting,
  type Schema, type TorrcEntry,
} from '../../shared/config/index.ts';
import { PUBLIC_NETWORK, type DirectoryNetwork } from '../../shared/directory/index.ts';
import { formatIp, parseIp } from '../../shared/addr/index.ts';
import { exitPolicyFromConfig, type ExitPolicy } from '../../shared/policy/index.ts';
import type { DosOverrides } from '../../shared/relay/index.ts';
import { ProtocolList } from '../../shared/netdoc/index.ts';
import { ProtocolError } from '../../shared/util/index.ts';

export const RELAY_SCHEMA = [
  { name: 'Nickname', kind: 'string', default: 'Unnamed' },
  { name: 'Address', kind: 'list' },
  { name: 'ORPort', kind: 'port', repeatable: true, portFlags: ['NoAdvertise', 'NoListen', 'IPv4Only', 'IPv6Only'] },
  { name: 'WebSocketPort', kind: 'port', repeatable: true, portFlags: ['cert', 'key', 'path'] },
  { name: 'DataDirectory', kind: 'path' },
  // DirAuthority, FallbackDir, UseDefaultFallbackDirs, TestingTorNetwork: without DirAuthority
  // lines, the public network.
  ...NETWORK_SCHEMA,
  { name: 'ExitPolicy', kind: 'exitpolicy' },
  { name: 'ExitRelay', kind: 'string', default: 'auto' },
  { name: 'ExitPolicyRejectPrivate', kind: 'bool', default: '1' },
  { name: 'IPv6Exit', kind: 'bool', default: '0' },
  { name: 'ReducedExitPolicy', kind: 'bool', default: '0' },
  { name: 'BridgeRelay', kind: 'bool', default: '0' },
  { name: 'PublishServerDescriptor', kind: 'string', default: '1' },
  { name: 'BandwidthRate', kind: 'bytes', default: '1 GByte' },
  { name: 'BandwidthBurst', kind: 'bytes', default: '1 GByte' },
  { name: 'ContactInfo', kind: 'string' },
  { name: 'Log', kind: 'list' },
  { name: 'OutboundBindAddress', kind: 'list' },
  { name: 'AssumeReachable', kind: 'bool', default: '0' },
  { name: 'MaxCircuits', kind: 'int', default: '8192', min: 1 },
  { name: 'CreateRateLimit', kind: 'int', default: '100', min: 0 },
  { name: 'MaxConnections', kind: 'int', default: '4096', min: 1 },
  { name: 'DoSConnectionEnabled', kind: 'string', default: 'auto' },
  { name: 'DoSConnectionMaxConcurrentCount', kind: 'int', default: '0', min: 0 },
  { name: 'DoSConnectionDefenseType', kind: 'int', default: '0', min: 0, max: 2 },
  { name: 'DoSConnectionConnectRate', kind: 'int', default: '0', min: 0 },
  { name: 'DoSConnectionConnectBurst', kind: 'int', default: '0', min: 0 },
  { name: 'DoSConnectionConnectDefenseTimePeriod', kind: 'int', default: '0', min: 0 },
  { name: 'DoSCircuitCreationEnabled', kind: 'string', default: 'auto' },
  { name: 'DoSCircuitCreationMinConnections', kind: 'int', default: '0', min: 0 },
  { name: 'DoSCircuitCreationRate', kind: 'int', default: '0', min: 0 },
  { name: 'DoSCircuitCreationBurst', kind: 'int', default: '0', min: 0 },
  { name: 'DoSCircuitCreationDefenseType', kind: 'int', default: '0', min: 0, max: 2 },
  { name: 'DoSCircuitCreationDefenseTimePeriod', kind: 'int', default: '0', min: 0 },
  { name: 'MaxExitSockets', kind: 'int', default: '4096', min: 1 },
  { name: 'MaxConcurrentDnsLookups', kind: 'int', default: '64', min: 1 },
  { name: 'HeartbeatPeriod', kind: 'interval', default: '6 hours' },
  { name: 'MaxMemInQueues', kind: 'bytes', default: '0' },
  { name: 'IgnoreMissingRequiredProtocols', kind: 'string' },
] as const satisfies Schema;

/** MaxMemInQueues: Telescope's default, and tor's floor and warning level for relays (config.c). */
export const DEFAULT_MAX_MEM_IN_QUEUES = 256 * 2 ** 20;
export const MIN_MAX_MEM_IN_QUEUES = 64 * 2 ** 20;

/** An ORPort line (tor's manual: ORPort [address:]PORT|auto [flags]). */
export interface OrPortConfig {
  /** Address to bind (IP literal, IPv6 without brackets, or a host name); undefined: all. */
  readonly address: string | undefined;
  readonly port: number | 'auto';
  /** Not NoListen: open a listener for it. */
  readonly listen: boolean;
  /** Not NoAdvertise: publish it in the descriptor. */
  readonly advertise: boolean;
  /** IPv4Only / IPv6Only, when given. */
  readonly family: 4 | 6 | undefined;
}

/** A WebSocketPort line. */
export interface WebSocketPortConfig {
  readonly address: string | undefined;
  readonly port: number | 'auto';
  /** PEM files for wss://; undefined: plain ws://. Paths as written (relative to the working directory). */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** HTTP path of the endpoint, "/" by default. */
  readonly path: string;
}

export interface RelayConfig {
  readonly nickname: string;
  /** Address lines: IP literals (canonical text) or host names, at most one IPv4 and one IPv6. */
  readonly addresses: readonly string[];
  readonly orPorts: readonly OrPortConfig[];
  readonly webSocketPorts: readonly WebSocketPortConfig[];
  /** As written; undefined: the host's default. */
  readonly dataDirectory: string | undefined;
  readonly dirAuthorities: readonly DirAuthorityLine[];
  /**
   * The network the relay joins: the DirAuthority lines' (a private network), else the built-in
   * one (the public network): whose consensus it accepts, where it fetches it, where it publishes.
   */
  readonly network: DirectoryNetwork;
  /** The ExitPolicy lines as written (comma-separated rules each). */
  readonly exitPolicyLines: readonly string[];
  /** ExitRelay as written: 'auto' means an exit only if an exit option is set (tor's rule). */
  readonly exitRelay: boolean | 'auto';
  /** Whether this relay lets any stream out: its effective policy accepts something. */
  readonly isExit: boolean;
  /**
   * The policy the relay enforces and publishes: tor's construction from ExitPolicy and its
   * companions (reject private and own addresses, the default policy appended, reject *:* for a
   * relay that is no exit).
   */
  readonly exitPolicy: ExitPolicy;
  readonly exitPolicyRejectPrivate: boolean;
  readonly ipv6Exit: boolean;
  readonly reducedExitPolicy: boolean;
  readonly bridgeRelay: boolean;
  /** PublishServerDescriptor: upload the descriptor (to the bridge authority for a bridge). */
  readonly publishServerDescriptor: boolean;
  /** Bytes per second and bucket size, for both the read and the write bucket. */
  readonly bandwidthRate: number;
  readonly bandwidthBurst: number;
  readonly contactInfo: string | undefined;
  /** Log lines as written (node-platform/node-log.ts reads them). */
  readonly log: readonly string[];
  /** Source addresses for outgoing connections, per family. */
  readonly outboundBindAddress: { readonly ipv4: string | undefined; readonly ipv6: string | undefined };
  readonly assumeReachable: boolean;
  readonly testingTorNetwork: boolean;
  readonly maxCircuits: number;
  /** CREATE cells per second per connection; 0: unlimited. */
  readonly createRateLimit: number;
  /** Connections open at once over all listeners (MaxConnections). */
  readonly maxConnections: number;
  /** The DoS* options that were set (the rest come from the consensus or tor's defaults). */
  readonly dos: DosOverrides;
  /** Exit TCP connections open or opening at once, relay-wide (MaxExitSockets). */
  readonly maxExitSockets: number;
  /** Exit DNS lookups in flight at once (MaxConcurrentDnsLookups). */
  readonly maxConcurrentDnsLookups: number;
  /** Seconds between status lines; 0: none (HeartbeatPeriod). */
  readonly heartbeatPeriod: number;
  /** Bytes of queued cells over all circuits before the oldest are destroyed (MaxMemInQueues). */
  readonly maxMemInQueues: number;
  /** Required relay protocols the relay may lack and still run (IgnoreMissingRequiredProtocols). */
  readonly ignoreMissingRequiredProtocols: ProtocolList;
  /** Things that are allowed but probably not meant; the host logs them at warn, as tor does. */
  readonly warnings: readonly string[];
}

/** tor's minimum BandwidthRate for a public relay and for a bridge (or.h). */
export const RELAY_REQUIRED_MIN_BANDWIDTH = 75 * 1024;
export const BRIDGE_REQUIRED_MIN_BANDWIDTH = 50 * 1024;
/** tor's largest bandwidth: INT32_MAX (bandwidths are 32-bit signed in descriptors). */
export const MAX_BANDWIDTH = 2 ** 31 - 1;

const NICKNAME = /^[A-Za-z0-9]{1,19}$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

const fail = (reason: string): never => {
  throw new ConfigError(reason);
};

function isHostName(s: string): boolean {
  return s.length <= 253 && s.split('.').every((l) => HOST_LABEL.test(l)) && !/^[0-9.]+$/.test(s);
}

/** The family of an address as written; undefined for a host name. */
function familyOf(address: string): 4 | 6 | undefined {
  return parseIp(address)?.family;
}

/**
 * The entries behind each option's value, in the order parseTorrc collected them: for repeatable
 * options the i-th entry gives the i-th value (a '/' entry empties the list, as it does there).
 */
function entriesByOption(text: string): Map<string, TorrcEntry[]> {
  const names = new Map<string, string>(RELAY_SCHEMA.map((s) => [s.name.toLowerCase(), s.name]));
  const out = new Map<string, TorrcEntry[]>();
  for (const e of readTorrcEntries(text)) {
    const name = names.get(e.key.toLowerCase());
    if (name === undefined) continue; // parseTorrc has already refused it
    if (e.magic === '/') out.set(name, []);
    else out.set(name, [...(out.get(name) ?? []), e]);
  }
  return out;
}

/** Runs a check for one entry; its ConfigError gets the option's name and the entry's line. */
function atEntry<T>(name: string, entry: TorrcEntry | undefined, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ConfigError && e.line === undefined) {
      throw new ConfigError(`${name}: ${e.reason}`, entry?.line, entry?.text, { cause: e });
    }
    throw e;
  }
}

function flagMap(setting: PortSetting): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (const f of setting.flags) {
    const eq = f.indexOf('=');
    const key = (eq === -1 ? f : f.slice(0, eq)).toLowerCase();
    if (flags.has(key)) fail(`flag '${f}' given twice`);
    flags.set(key, eq === -1 ? true : f.slice(eq + 1));
  }
  return flags;
}

function orPortFrom(setting: PortSetting): OrPortConfig {
  const flags = flagMap(setting);
  for (const [k, v] of flags) if (v !== true) fail(`flag '${k}' takes no value`);
  const noListen = flags.has('nolisten');
  const noAdvertise = flags.has('noadvertise');
  // tor: a port that is neither listened on nor advertised is nothing at all.
  if (noListen && noAdvertise) fail('NoListen and NoAdvertise together leave nothing of the port');
  const v4 = flags.has('ipv4only');
  const v6 = flags.has('ipv6only');
  if (v4 && v6) fail('IPv4Only and IPv6Only exclude each other');
  const written = setting.address === undefined ? undefined : familyOf(setting.address);
  const family = v4 ? 4 : v6 ? 6 : undefined;
  if (family !== undefined && written !== undefined && family !== written) {
    fail(`IPv${family}Only on an IPv${written} address`);
  }
  return { address: setting.address, port: setting.port, listen: !noListen, advertise: !noAdvertise, family };
}

function webSocketPortFrom(setting: PortSetting): WebSocketPortConfig {
  const flags = flagMap(setting);
  const value = (key: string): string | undefined => {
    const v = flags.get(key);
    if (v === true || v === '') fail(`flag '${key}' needs a value (${key}=...)`);
    return v === true ? undefined : v;
  };
  const cert = value('cert');
  const key = value('key');
  if ((cert === undefined) !== (key === undefined)) fail('wss needs both cert=FILE and key=FILE');
  const path = value('path') ?? '/';
  if (!/^\/[\x21-\x7e]*$/.test(path) || /[?#]/.test(path)) fail(`path '${path}' must start with '/' and hold no spaces, '?' or '#'`);
  return {
    address: setting.address,
    port: setting.port,
    tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
    path,
  };
}

function checkAddress(value: string): string {
  if (/\s/.test(value)) fail(`'${value}' is not one address`);
  const ip = parseIp(value);
  if (ip) return formatIp(ip.bytes);
  if (!isHostName(value)) fail(`'${value}' is neither an IP address nor a host name`);
  return value.toLowerCase();
}

function checkBindAddress(value: string): { family: 4 | 6; text: string } {
  const ip = parseIp(value);
  if (!ip) fail(`'${value}' is not an IP address`);
  return { family: ip!.family, text: formatIp(ip!.bytes) };
}

function checkExitRelay(value: string): boolean | 'auto' {
  const v = value.toLowerCase();
  if (v === 'auto') return 'auto';
  if (v === '0' || v === '1') return v === '1';
  return fail(`'${value}' is not 0, 1 or auto`);
}

/** tor's PublishServerDescriptor: 0, 1, or a list of authority types (v3, bridge). */
function checkPublish(value: string): boolean {
  const items = value.split(',').map((s) => s.trim().toLowerCase());
  let publish = false;
  for (const item of items) {
    if (item === '0') continue;
    if (item === '1' || item === 'v3' || item === 'bridge') publish = true;
    else fail(`'${item}' is not 0, 1, v3 or bridge`);
  }
  if (items.includes('0') && publish) fail(`'${value}': 0 cannot be combined with other values`);
  return publish;
}

/** tor's rule (config.c): "2 GB" is taken to mean the largest value, 2^31-1. */
function checkBandwidthCap(value: number): number {
  const v = value === MAX_BANDWIDTH + 1 ? MAX_BANDWIDTH : value;
  if (v > MAX_BANDWIDTH) fail(`${value} must be at most ${MAX_BANDWIDTH}`);
  return v;
}

function listenKey(address: string | undefined, port: number | 'auto'): string | undefined {
  return port === 'auto' ? undefined : `${address ?? '*'}:${port}`;
}

/**
 * The DoS* options as overrides of the consensus: 'auto' and 0 mean "not set" (tor's meaning).
 * DoSConnectionConnectDefenseTimePeriod below tor's minimum (10 s) is raised to it.
 */
function dosOverridesFrom(raw: ReturnType<typeof parseTorrc<typeof RELAY_SCHEMA>>, last: (name: string) => TorrcEntry | undefined): DosOverrides {
  const out: Record<string, number> = {};
  const autobool = (name: 'DoSConnectionEnabled' | 'DoSCircuitCreationEnabled', key: keyof DosOverrides) => {
    const v = atEntry(name, last(name), () => {
      const t = raw[name].toLowerCase();
      if (t !== 'auto' && t !== '0' && t !== '1') fail(`'${raw[name]}' is not auto, 0 or 1`);
      return t;
    });
    if (v !== 'auto') out[key] = Number(v);
  };
  autobool('DoSConnectionEnabled', 'connectionEnabled');
  autobool('DoSCircuitCreationEnabled', 'circuitCreationEnabled');
  const numbers: [keyof typeof raw & `DoS${string}`, keyof DosOverrides][] = [
    ['DoSConnectionMaxConcurrentCount', 'connectionMaxConcurrentCount'],
    ['DoSConnectionDefenseType', 'connectionDefenseType'],
    ['DoSConnectionConnectRate', 'connectionConnectRate'],
    ['DoSConnectionConnectBurst', 'connectionConnectBurst'],
    ['DoSConnectionConnectDefenseTimePeriod', 'connectionConnectDefenseTimePeriod'],
    ['DoSCircuitCreationMinConnections', 'circuitCreationMinConnections'],
    ['DoSCircuitCreationRate', 'circuitCreationRate'],
    ['DoSCircuitCreationBurst', 'circuitCreationBurst'],
    ['DoSCircuitCreationDefenseType', 'circuitCreationDefenseType'],
    ['DoSCircuitCreationDefenseTimePeriod', 'circuitCreationDefenseTimePeriod'],
  ];
  for (const [name, key] of numbers) {
    const v = raw[name] as number;
    if (v !== 0) out[key] = v;
  }
  return out as DosOverrides;
}

/**
 * Reads a relay's torrc. Throws ConfigError for anything tor would refuse and for what Telescope
 * cannot do; returns warnings for what is allowed but probably a mistake.
 */
export function parseRelayConfig(text: string, builtinNetwork: DirectoryNetwork = PUBLIC_NETWORK): RelayConfig {
  const raw = parseTorrc(text, RELAY_SCHEMA);
  const entries = entriesByOption(text);
  const all = (name: string): TorrcEntry[] => entries.get(name) ?? [];
  const last = (name: string): TorrcEntry | undefined => all(name).at(-1);
  const warnings: string[] = [];

  const nickname = atEntry('Nickname', last('Nickname'), () => {
    if (!NICKNAME.test(raw.Nickname)) fail(`'${raw.Nickname}' is not 1 to 19 letters and digits`);
    return raw.Nickname;
  });

  const addresses: string[] = [];
  const addressFamilies = new Set<4 | 6 | 'name'>();
  raw.Address.forEach((value, i) => {
    atEntry('Address', all('Address')[i], () => {
      const a = checkAddress(value.trim());
      const fam = familyOf(a) ?? 'name';
      if (addressFamilies.has(fam) || addresses.length === 2) {
        fail('give at most one IPv4 address and one IPv6 address (or one host name)');
      }
      addressFamilies.add(fam);
      addresses.push(a);
    });
  });

  const orPorts: OrPortConfig[] = [];
  raw.ORPort.forEach((setting, i) => {
    const p = atEntry('ORPort', all('ORPort')[i], () => orPortFrom(setting));
    // tor: "ORPort 0" turns the ORPort off; it does not count as one.
    if (p.port !== 0) orPorts.push(p);
  });
  if (orPorts.length === 0) {
    throw new ConfigError('ORPort is required: a relay needs a port other relays and clients connect to (e.g. "ORPort 9001")');
  }
  if (!orPorts.some((p) => p.listen)) throw new ConfigError('ORPort: every ORPort is NoListen, so nothing would listen');
  if (!orPorts.some((p) => p.advertise)) throw new ConfigError('ORPort: every ORPort is NoAdvertise, so none could be published');

  const webSocketPorts: WebSocketPortConfig[] = [];
  raw.WebSocketPort.forEach((setting, i) => {
    const w = atEntry('WebSocketPort', all('WebSocketPort')[i], () => webSocketPortFrom(setting));
    if (w.port !== 0) webSocketPorts.push(w);
  });

  // Two listeners on the same address and port cannot both bind.
  const bound = new Map<string, string>();
  const claim = (name: string, entry: TorrcEntry | undefined, address: string | undefined, port: number | 'auto'): void => {
    const key = listenKey(address, port);
    if (key === undefined) return;
    atEntry(name, entry, () => {
      const other = bound.get(key);
      if (other !== undefined) fail(`${address ?? ''}${address === undefined ? '' : ':'}${port} is already used by ${other}`);
      bound.set(key, name);
    });
  };
  raw.ORPort.forEach((s, i) => {
    if (s.port !== 0 && !s.flags.some((f) => f.toLowerCase() === 'nolisten')) claim('ORPort', all('ORPort')[i], s.address, s.port);
  });
  raw.WebSocketPort.forEach((s, i) => {
    if (s.port !== 0) claim('WebSocketPort', all('WebSocketPort')[i], s.address, s.port);
  });

  raw.DirAuthority.forEach((a, i) => {
    atEntry('DirAuthority', all('DirAuthority')[i], () => {
      // Only v3 authorities sign consensuses; without v3ident the relay could not check them.
      if (!a.bridge && a.v3ident === undefined) fail(`${a.nickname ?? a.address}: a v3ident=HEX flag is required`);
      if (a.orPort === undefined) fail(`${a.nickname ?? a.address}: an orport=N flag is required`);
    });
  });
  if (raw.TestingTorNetwork && raw.DirAuthority.length === 0) {
    // tor's rule: a testing network's shortened timings must never meet the public network.
    throw new ConfigError('TestingTorNetwork 1 needs DirAuthority lines naming the test network\'s authorities');
  }
  const network = directoryNetworkFrom(raw, builtinNetwork);

  const exitRelay = atEntry('ExitRelay', last('ExitRelay'), () => checkExitRelay(raw.ExitRelay));
  const publishServerDescriptor = atEntry('PublishServerDescriptor', last('PublishServerDescriptor'), () =>
    checkPublish(raw.PublishServerDescriptor),
  );

  const bandwidthRate = atEntry('BandwidthRate', last('BandwidthRate'), () => {
    const v = checkBandwidthCap(raw.BandwidthRate);
    const min = raw.BridgeRelay ? BRIDGE_REQUIRED_MIN_BANDWIDTH : RELAY_REQUIRED_MIN_BANDWIDTH;
    if (v < min) fail(`${v} bytes per second is too little; a ${raw.BridgeRelay ? 'bridge' : 'relay'} needs at least ${min}`);
    return v;
  });
  const burstEntry = last('BandwidthBurst');
  const bandwidthBurst = atEntry(burstEntry ? 'BandwidthBurst' : 'BandwidthRate', burstEntry ?? last('BandwidthRate'), () => {
    const v = checkBandwidthCap(raw.BandwidthBurst);
    // tor: "BandwidthBurst must be at least equal to BandwidthRate."
    if (v < bandwidthRate) {
      if (burstEntry) fail(`${v} is less than BandwidthRate (${bandwidthRate}); the bucket must hold at least one second's worth`);
      fail(`${bandwidthRate} is more than BandwidthBurst (${v}, the default); raise BandwidthBurst too`);
    }
    return v;
  });

  const bind: { ipv4: string | undefined; ipv6: string | undefined } = { ipv4: undefined, ipv6: undefined };
  raw.OutboundBindAddress.forEach((value, i) => {
    atEntry('OutboundBindAddress', all('OutboundBindAddress')[i], () => {
      const b = checkBindAddress(value.trim());
      const slot = b.family === 4 ? 'ipv4' : 'ipv6';
      if (bind[slot] !== undefined) fail(`a second IPv${b.family} address (the first is ${bind[slot]})`);
      bind[slot] = b.text;
    });
  });

  // The relay's own addresses are rejected too under ExitPolicyRejectPrivate (tor: Address,
  // ORPort and OutboundBindAddress addresses), so an exit cannot be used to reach itself; tor has
  // no WebSocket listener, but the same goes for every address one listens on.
  const own = [...addresses, ...orPorts.map((p) => p.address), ...webSocketPorts.map((p) => p.address), bind.ipv4, bind.ipv6].filter(
    (a): a is string => a !== undefined && familyOf(a) !== undefined,
  );
  // parseTorrc has checked every ExitPolicy line, and `own` holds IP literals only, so this
  // cannot fail on the file's account.
  const exitPolicy = exitPolicyFromConfig({
    exitPolicy: raw.ExitPolicy,
    exitRelay: exitRelay === 'auto' ? undefined : exitRelay,
    rejectPrivate: raw.ExitPolicyRejectPrivate,
    relayAddresses: own,
    ipv6Exit: raw.IPv6Exit,
    reducedExitPolicy: raw.ReducedExitPolicy,
    bridgeRelay: raw.BridgeRelay,
  });
  const isExit = !(exitPolicy.rejectsAll(4) && exitPolicy.rejectsAll(6));

  if (exitRelay === false && raw.ExitPolicy.length > 0) {
    warnings.push('ExitRelay is 0, so the ExitPolicy lines are ignored and the relay is no exit');
  }
  if (exitRelay === true && raw.ExitPolicy.length === 0 && !raw.ReducedExitPolicy) {
    warnings.push("ExitRelay 1 without ExitPolicy: using tor's default exit policy (most ports open)");
  }
  if (exitRelay === 'auto' && isExit) {
    warnings.push('this relay is an exit because an exit option is set; set ExitRelay 1 to say so, or ExitRelay 0 to be none');
  }
  if (raw.BridgeRelay && publishServerDescriptor && network.bridgeAuthorities.length === 0) {
    warnings.push('BridgeRelay 1 publishes to a bridge authority, but no DirAuthority line has the bridge flag');
  }
  if (raw.TestingTorNetwork && !raw.AssumeReachable) {
    warnings.push('TestingTorNetwork 1 without AssumeReachable 1: tor 0.4.9 relays only publish once they find themselves reachable');
  }
  let maxMemInQueues = raw.MaxMemInQueues === 0 ? DEFAULT_MAX_MEM_IN_QUEUES : raw.MaxMemInQueues;
  if (maxMemInQueues < MIN_MAX_MEM_IN_QUEUES) {
    warnings.push(`MaxMemInQueues must be at least ${MIN_MAX_MEM_IN_QUEUES / 2 ** 20} MB on a relay; using that`);
    maxMemInQueues = MIN_MAX_MEM_IN_QUEUES;
  } else if (maxMemInQueues < DEFAULT_MAX_MEM_IN_QUEUES) {
    warnings.push(`MaxMemInQueues is low (${Math.floor(maxMemInQueues / 2 ** 20)} MB): under load, circuits will be destroyed to stay under it`);
  }
  if (raw.ContactInfo === undefined && !raw.BridgeRelay && !raw.TestingTorNetwork) {
    warnings.push('no ContactInfo: the network operators cannot reach you if the relay misbehaves');
  }

  return {
    nickname,
    addresses,
    orPorts,
    webSocketPorts,
    dataDirectory: raw.DataDirectory,
    dirAuthorities: raw.DirAuthority,
    network,
    exitPolicyLines: raw.ExitPolicy,
    exitRelay,
    isExit,
    exitPolicy,
    exitPolicyRejectPrivate: raw.ExitPolicyRejectPrivate,
    ipv6Exit: raw.IPv6Exit,
    reducedExitPolicy: raw.ReducedExitPolicy,
    bridgeRelay: raw.BridgeRelay,
    publishServerDescriptor,
    bandwidthRate,
    bandwidthBurst,
    contactInfo: raw.ContactInfo,
    log: raw.Log,
    outboundBindAddress: bind,
    assumeReachable: raw.AssumeReachable,
    testingTorNetwork: raw.TestingTorNetwork,
    maxCircuits: raw.MaxCircuits,
    createRateLimit: raw.CreateRateLimit,
    maxConnections: raw.MaxConnections,
    dos: dosOverridesFrom(raw, last),
    maxExitSockets: raw.MaxExitSockets,
    maxConcurrentDnsLookups: raw.MaxConcurrentDnsLookups,
    heartbeatPeriod: raw.HeartbeatPeriod,
    maxMemInQueues,
    ignoreMissingRequiredProtocols: protocolListOption('IgnoreMissingRequiredProtocols', raw.IgnoreMissingRequiredProtocols ?? '', last),
    warnings,
  };
}

function protocolListOption(name: string, text: string, last: (name: string) => TorrcEntry | undefined): ProtocolList {
  try {
    return ProtocolList.parse(text, name);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    const entry = last(name);
    throw new ConfigError(`${name}: ${e.detail}`, entry?.line, entry?.text, { cause: e });
  }
}
