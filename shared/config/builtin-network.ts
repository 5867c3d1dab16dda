/**
 * Which Tor network a configuration names, and the file that replaces the built-in one.
 *
 * tor's rules (config.c, consider_adding_dir_servers): without DirAuthority lines the built-in
 * authorities are used, with the built-in fallbacks unless FallbackDir lines replace them or
 * UseDefaultFallbackDirs is 0; with DirAuthority lines (a private network) only those authorities
 * and the FallbackDir lines given, never the built-in fallbacks. TestingTorNetwork needs its own
 * DirAuthority lines, so a test network's shortened timings never meet the public network.
 *
 * The built-in network is a parameter (the public one by default): a test hands a loopback
 * network in its place, written as a file of DirAuthority and FallbackDir lines in torrc syntax
 * (builtinNetworkFrom), so the code path under test is the product's.
 */
import type { BridgeAuthority, DirAuthority, DirectoryNetwork, FallbackDir } from '../directory/index.ts';
import { PUBLIC_NETWORK } from '../directory/index.ts';
import { ConfigError, dirAuthorityFrom, parseTorrc, type DirAuthorityLine } from './torrc.ts';

/** What a configuration file says about its network (the options of the same names). */
export interface NetworkOptions {
  readonly DirAuthority: readonly DirAuthorityLine[];
  readonly FallbackDir: readonly FallbackDir[];
  readonly UseDefaultFallbackDirs: boolean;
  readonly TestingTorNetwork: boolean;
}

/** The torrc options every command reads to choose its network (add them to a command's schema). */
export const NETWORK_SCHEMA = [
  { name: 'DirAuthority', kind: 'dirauthority' },
  { name: 'FallbackDir', kind: 'fallbackdir' },
  { name: 'UseDefaultFallbackDirs', kind: 'bool', default: '1' },
  { name: 'TestingTorNetwork', kind: 'bool', default: '0' },
] as const;

const BUILTIN_FILE_SCHEMA = [
  { name: 'DirAuthority', kind: 'dirauthority' },
  { name: 'FallbackDir', kind: 'fallbackdir' },
] as const;

function bridgeAuthorityFrom(line: DirAuthorityLine): BridgeAuthority {
  const name = line.nickname ?? line.address;
  if (line.orPort === undefined) throw new ConfigError(`DirAuthority ${name}: an orport=N flag is required`);
  return { nickname: name, address: line.address, orPort: line.orPort, dirPort: line.dirPort, fingerprint: line.fingerprint };
}

/** DirAuthority lines as v3 authorities and bridge authorities; at least one v3 authority. */
function authoritiesFrom(lines: readonly DirAuthorityLine[]): { authorities: DirAuthority[]; bridgeAuthorities: BridgeAuthority[] } {
  const authorities = lines.filter((l) => !l.bridge).map(dirAuthorityFrom);
  const bridgeAuthorities = lines.filter((l) => l.bridge).map(bridgeAuthorityFrom);
  if (authorities.length === 0) throw new ConfigError('the DirAuthority lines name only bridge authorities: a consensus needs v3 authorities (lines with v3ident=)');
  return { authorities, bridgeAuthorities };
}

/**
 * The network a replacement for the built-in one describes: `DirAuthority` lines (tor's syntax,
 * `bridge` for a bridge authority) and `FallbackDir` lines, nothing else. At least one v3
 * authority. A malformed line is a ConfigError naming it.
 */
export function builtinNetworkFrom(text: string): DirectoryNetwork {
  const file = parseTorrc(text, BUILTIN_FILE_SCHEMA);
  if (file.DirAuthority.length === 0) throw new ConfigError('no DirAuthority lines: a network needs the authorities that sign its consensus');
  return { ...authoritiesFrom(file.DirAuthority), fallbacks: file.FallbackDir };
}

/** The network a configuration names, with `builtin` (the public network unless replaced) as tor's default. */
export function directoryNetworkFrom(options: NetworkOptions, builtin: DirectoryNetwork = PUBLIC_NETWORK): DirectoryNetwork {
  if (options.DirAuthority.length > 0) return { ...authoritiesFrom(options.DirAuthority), fallbacks: options.FallbackDir };
  if (options.TestingTorNetwork) {
    // tor: "TestingTorNetwork may only be configured in combination with a non-default set of DirAuthority".
    throw new ConfigError("TestingTorNetwork 1 needs DirAuthority lines naming the test network's authorities");
  }
  const fallbacks = options.FallbackDir.length > 0 ? options.FallbackDir : options.UseDefaultFallbackDirs ? builtin.fallbacks : [];
  return { authorities: builtin.authorities, fallbacks, bridgeAuthorities: builtin.bridgeAuthorities };
}
