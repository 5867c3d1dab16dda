import { readFileSync } from 'node:fs';
import { builtinNetworkFrom, ConfigError } from '../shared/config/index.ts';
import { PUBLIC_NETWORK, type DirectoryNetwork } from '../shared/directory/index.ts';

/**
 * The environment variable that replaces the built-in public network, a testing aid: it names a
 * file of DirAuthority and FallbackDir lines (torrc syntax) that the commands then use wherever
 * they would use the public network's authorities and fallbacks. Tests point it at a private
 * network on loopback so that no test ever dials a public address.
 */
export const BUILTIN_NETWORK_ENV = 'TELESCOPE_BUILTIN_NETWORK';

/**
 * The network a command uses when its file names no DirAuthority: the public one, or the file
 * TELESCOPE_BUILTIN_NETWORK names (read here, the one place the commands read it). A file that
 * cannot be read or parsed is a ConfigError naming the variable.
 */
export function builtinNetwork(env: NodeJS.ProcessEnv = process.env): DirectoryNetwork {
  const file = env[BUILTIN_NETWORK_ENV];
  if (file === undefined || file === '') return PUBLIC_NETWORK;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${BUILTIN_NETWORK_ENV}=${file}: cannot read it (${e instanceof Error ? e.message : String(e)})`, undefined, undefined, { cause: e });
  }
  try {
    return builtinNetworkFrom(text);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${BUILTIN_NETWORK_ENV}=${file}: ${e.message}`, undefined, undefined, { cause: e });
    throw e;
  }
}
