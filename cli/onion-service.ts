import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ConfigError, directoryNetworkFrom, NETWORK_SCHEMA, type TorrcConfig, parseOnionServiceConfig, type HiddenServiceConfig,
} from '../shared/config/index.ts';
import type { DirectoryNetwork } from '../shared/directory/index.ts';
import { TelescopeError, UnexpectedErrors } from '../shared/util/index.ts';
import type { Logger } from '../shared/util/index.ts';
import type { OnionService, PublishEvent } from '../shared/onion/index.ts';
import { loggerFromLogLines } from '../node-platform/node-log.ts';
import { installProcessNet } from '../node-platform/process-net.ts';
import { loadOrCreateServiceIdentity, readAuthorizedClients } from '../onion-host/service-dir.ts';
import { hostOnionService } from '../onion-host/service-host.ts';
import { createNodeTorClient, openSocksPort, type SocksPort } from '../node-client/node-client.ts';
import { builtinNetwork } from './builtin-network.ts';
import { optionValue } from './options.ts';

/**
 * `telescope onion-service -f FILE`: host v3 onion services from Node, configured as tor is
 * (HiddenServiceDir / HiddenServicePort blocks, DirAuthority, DataDirectory). The keys live in the
 * HiddenServiceDir in tor's layout, so a service moves between tor and Telescope with its address;
 * authorized_clients/*.auth turns client authorization on. Streams go to the HiddenServicePort
 * targets over TCP.
 */

export const ONION_SERVICE_SCHEMA = [
  { name: 'DataDirectory', kind: 'path' },
  // DirAuthority, FallbackDir, UseDefaultFallbackDirs, TestingTorNetwork: without DirAuthority
  // lines, the public network (or the file TELESCOPE_BUILTIN_NETWORK names).
  ...NETWORK_SCHEMA,
  { name: 'Log', kind: 'list' },
  { name: 'EnforceDistinctSubnets', kind: 'bool', default: '1' },
  // A service host need not be a client as well; a SocksPort other than 0 makes it one.
  { name: 'SocksPort', kind: 'port', default: '0' },
] as const;

type ServiceFileConfig = TorrcConfig<typeof ONION_SERVICE_SCHEMA>;

export async function runOnionServiceCli(args: string[]): Promise<number> {
  const file = optionValue(args, '-f');
  if (!file) {
    console.error('usage: telescope onion-service -f FILE');
    return 2;
  }
  let config: ServiceFileConfig;
  let services: HiddenServiceConfig[];
  let log: Logger;
  let network: DirectoryNetwork;
  try {
    ({ config, services } = parseOnionServiceConfig(readFileSync(file, 'utf8'), ONION_SERVICE_SCHEMA));
    log = loggerFromLogLines(config.Log);
    network = directoryNetworkFrom(config, builtinNetwork());
    if (services.length === 0) throw new ConfigError('no HiddenServiceDir: nothing to host');
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }

  // A long-running process: an error nothing caught is logged (UNEXPECTED ERROR) and counted, not fatal.
  installProcessNet(new UnexpectedErrors(log));
  const loaded = [];
  for (const s of services) {
    const dir = resolve(s.dir);
    try {
      const identity = await loadOrCreateServiceIdentity(dir);
      const authorizedClients = await readAuthorizedClients(dir);
      loaded.push({ config: s, dir, identity, authorizedClients });
      const auth = authorizedClients.length > 0 ? `, ${authorizedClients.length} authorized client(s)` : '';
      console.log(`onion service ${identity.hostname} (HiddenServiceDir ${dir}${auth})`);
    } catch (e) {
      if (e instanceof TelescopeError) {
        console.error(`${file}: HiddenServiceDir ${dir}: ${e.message}`);
        return 1;
      }
      throw e;
    }
  }

  const dataDir = resolve(config.DataDirectory ?? join(homedir(), '.telescope', 'onion-service'));
  const client = createNodeTorClient({
    dataDirectory: dataDir,
    authorities: network.authorities,
    fallbacks: network.fallbacks,
    // Advice about a refused consensus names what to fix: the DirAuthority lines, or nothing of ours.
    authoritySet: config.DirAuthority.length > 0 ? 'configured' : 'built-in',
    log,
    rules: { enforceDistinctSubnets: config.EnforceDistinctSubnets && !config.TestingTorNetwork },
    testingNetwork: config.TestingTorNetwork,
    onBootstrap: (s) => log.notice(`Bootstrapped ${s.percent}% (${s.tag}): ${s.summary}`),
  });
  let socks: SocksPort | undefined;
  const running: OnionService[] = [];
  const shutdown = async () => {
    for (const s of running) s.stop();
    await client.close();
    await socks?.server.close();
  };
  const stop = async (signal: string) => {
    log.notice(`Caught ${signal}, exiting cleanly.`);
    await shutdown();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  const sp = config.SocksPort;
  if (sp.port !== 0) socks = await openSocksPort(client, sp.address ?? '127.0.0.1', sp.port === 'auto' ? 0 : sp.port, log);

  try {
    await client.bootstrap();
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
    log.warn(`bootstrap failed: ${e.message}`);
    await shutdown();
    return 1;
  }

  const starts = loaded.map(async (s) => {
    const published = new Map<number, PublishEvent>();
    const service = hostOnionService({
      client,
      config: s.config,
      identity: s.identity,
      authorizedClients: s.authorizedClients,
      testingNetwork: config.TestingTorNetwork,
      log,
      onPublish: (e) => published.set(e.periodNum, e),
    });
    running.push(service);
    await service.start();
    const periods = [...published.values()].map((e) => `${e.periodNum}: ${e.uploaded.length}/${e.responsible} HSDirs`).join(', ');
    console.log(`onion service ${s.identity.hostname} published (time periods ${periods}; ${service.introductionPoints.length} introduction points)`);
  });
  const results = await Promise.allSettled(starts);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  for (const f of failed) {
    if (!(f.reason instanceof TelescopeError)) throw f.reason;
    log.warn(f.reason.message);
  }
  if (failed.length === results.length) {
    await shutdown();
    return 1;
  }
  await new Promise(() => {}); // serve until a signal arrives
  return 0;
}
