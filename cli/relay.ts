import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../shared/config/index.ts';
import { TelescopeError, UnexpectedErrors } from '../shared/util/index.ts';
import { loggerFromLogLines } from '../node-platform/node-log.ts';
import { parseRelayConfig, type RelayConfig } from '../relay-bridge/relay/config.ts';
import { RelayBridge } from '../relay-bridge/relay/relay.ts';
import { installProcessNet } from '../node-platform/process-net.ts';
import { builtinNetwork } from './builtin-network.ts';
import { optionValue } from './options.ts';

/**
 * `telescope relay -f FILE`: run the relay-bridge. On start it prints its fingerprint and the
 * bridge lines clients use (README "Running a relay-bridge").
 */
export async function runRelayCli(args: string[]): Promise<number> {
  const file = optionValue(args, '-f');
  if (!file) {
    console.error('usage: telescope relay -f FILE');
    return 2;
  }
  let config: RelayConfig;
  let log;
  try {
    config = parseRelayConfig(readFileSync(file, 'utf8'), builtinNetwork());
    log = loggerFromLogLines(config.log);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${file}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  for (const w of config.warnings) log.warn(w);
  // From here on nothing one peer does may end the process: what no circuit or channel caught is
  // logged (UNEXPECTED ERROR), counted with the rest, and the relay carries on.
  const unexpected = new UnexpectedErrors(log);
  installProcessNet(unexpected);
  const dataDirectory = resolve(config.dataDirectory ?? join(homedir(), '.telescope-relay'));
  let relay: RelayBridge;
  try {
    relay = await RelayBridge.start({
      config,
      dataDirectory,
      log,
      unexpected,
      // The network requires relay protocols this version lacks: it has stopped; so do we (as tor).
      onStopped: () => process.exit(1),
    });
  } catch (e) {
    if (!(e instanceof TelescopeError) && !(e instanceof Error && 'code' in e)) throw e;
    log.warn(`could not start: ${(e as Error).message}`);
    return 1;
  }
  const lines = relay.bridgeLines();
  log.notice(`Your relay's fingerprint is '${config.nickname} ${relay.fingerprint}'`);
  if (lines.webSocket) log.notice(`Bridge line for the extension: ${lines.webSocket}`);
  log.notice(`Bridge line for tor: Bridge ${lines.orPort}`);
  const stop = async (signal: string) => {
    log.notice(`Caught ${signal}, exiting cleanly.`);
    await relay.stop();
    // The last status line: tests read the unexpected-error count from it.
    log.notice(relay.statusLine());
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await new Promise(() => {}); // serve until a signal arrives
  return 0;
}
