import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { directoryNetworkFrom, NETWORK_SCHEMA, parseTorrc, ConfigError, type TorrcConfig, bridgeFrom, type BridgeInfo } from '../shared/config/index.ts';
import type { DirectoryNetwork } from '../shared/directory/index.ts';
import { TelescopeError, UnexpectedErrors } from '../shared/util/index.ts';
import { loggerFromLogLines } from '../node-platform/node-log.ts';
import { installProcessNet } from '../node-platform/process-net.ts';
import { readClientAuthKeys } from '../node-client/onion-auth-dir.ts';
import { createNodeTorClient, openSocksPort, type SocksPort } from '../node-client/node-client.ts';
import { builtinNetwork } from './builtin-network.ts';
import { optionValue } from './options.ts';

/**
 * `telescope client -f FILE`: the Tor client with a SOCKS5 port, configured with torrc syntax for
 * what it covers. Bootstrap progress is printed as tor prints it.
 */

export const CLIENT_SCHEMA = [
  { name: 'SocksPort', kind: 'port', default: '9050' },
  { name: 'DataDirectory', kind: 'path' },
  // DirAuthority, FallbackDir, UseDefaultFallbackDirs, TestingTorNetwork: without DirAuthority
  // lines, the public network (or the file TELESCOPE_BUILTIN_NETWORK names).
  ...NETWORK_SCHEMA,
  { name: 'UseBridges', kind: 'bool', default: '0' },
  { name: 'Bridge', kind: 'bridge' },
  { name: 'Log', kind: 'list' },
  // tor turns the /16 rule off in test networks (everything is on 127.0.0.1 there).
  { name: 'EnforceDistinctSubnets', kind: 'bool', default: '1' },
  // Client authorization keys for onion services, one *.auth_private file each (tor's format).
  { name: 'ClientOnionAuthDir', kind: 'path' },
] as const;

export type ClientConfig = TorrcConfig<typeof CLIENT_SCHEMA>;

export function bridgesFrom(config: ClientConfig): BridgeInfo[] {
  if (!config.UseBridges) return [];
  if (config.Bridge.length === 0) throw new ConfigError('UseBridges 1 needs at least one Bridge line');
  return config.Bridge.map((b) => {
    if (b.kind === 'telescope') throw new ConfigError(`Bridge ${b.url}: WebSocket bridges are for the browser extension; the Node client connects to a bridge's ORPort (Bridge IP:PORT FINGERPRINT ntor=BASE64)`);
    // Without ntor=BASE64 the client fetches the key from the bridge's own descriptor.
    return bridgeFrom(b);
  });
}

export async function runClientCli(args: string[]): Promise<number> {
  const file = optionValue(args, '-f');
  if (!file) {
    console.error('usage: telescope client -f FILE');
    return 2;
  }
  let config: ClientConfig;
  try {
    config = parseTorrc(readFileSync(file, 'utf8'), CLIENT_SCHEMA);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  let log;
  let network: DirectoryNetwork;
  let bridges: BridgeInfo[];
  try {
    log = loggerFromLogLines(config.Log);
    network = directoryNetworkFrom(config, builtinNetwork());
    bridges = bridgesFrom(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  // A long-running process: an error nothing caught is logged (UNEXPECTED ERROR) and counted, not fatal.
  installProcessNet(new UnexpectedErrors(log));
  const dataDir = resolve(config.DataDirectory ?? join(homedir(), '.telescope'));
  let onionClientAuth: Map<string, Uint8Array> | undefined;
  try {
    if (config.ClientOnionAuthDir) onionClientAuth = await readClientAuthKeys(resolve(config.ClientOnionAuthDir));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const client = createNodeTorClient({
    dataDirectory: dataDir,
    authorities: network.authorities,
    fallbacks: network.fallbacks,
    // Advice about a refused consensus names what to fix: the DirAuthority lines, or nothing of ours.
    authoritySet: config.DirAuthority.length > 0 ? 'configured' : 'built-in',
    bridges,
    log,
    rules: { enforceDistinctSubnets: config.EnforceDistinctSubnets && !config.TestingTorNetwork },
    testingNetwork: config.TestingTorNetwork,
    ...(onionClientAuth ? { onionClientAuth } : {}),
    onBootstrap: (s) => log.notice(`Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`),
  });
  const sp = config.SocksPort;
  let socks: SocksPort | undefined;
  if (sp.port !== 0) socks = await openSocksPort(client, sp.address ?? '127.0.0.1', sp.port === 'auto' ? 0 : sp.port, log);
  const stop = async (signal: string) => {
    log.notice(`Caught ${signal}, exiting cleanly.`);
    await client.close();
    await socks?.server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  try {
    await client.bootstrap();
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
    log.warn(`bootstrap failed: ${e.message}`);
    await client.close();
    await socks?.server.close();
    return 1;
  }
  const guards = await client.guards.describe(client.requireNetDir());
  log.notice(`primary guards: ${guards.map((g) => `${g.nickname}~${g.fingerprint.slice(0, 8)}`).join(', ')} (state kept in ${dataDir})`);
  await new Promise(() => {}); // serve until a signal arrives
  return 0;
}
