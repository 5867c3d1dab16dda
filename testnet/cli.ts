/**
 * `npm run testnet -- up|down|status --dir DIR` (`node --import tsx testnet/cli.ts ...`): bring the
 * private tor network up (and leave it running), stop it, or tell whether it runs. A developer's
 * tool, not a command of `telescope`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TelescopeError } from '../shared/util/index.ts';
import { DESCRIPTION_FILE, isRunning, readDescription, startTestnet, stopTestnet } from './index.ts';

const USAGE = [
  'usage: npm run testnet -- <up|down|status> --dir DIR [--timeout SECONDS]',
  '',
  '  up      start a private tor network on 127.0.0.1 (3 authorities, 5 relays, an onion',
  `          service, a client and a web server) and write DIR/${DESCRIPTION_FILE}; the processes`,
  '          keep running after the command returns',
  '  down    stop the processes recorded in DIR/network.json',
  '  status  say whether the network in DIR is running',
].join('\n');

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  return v === undefined || v.startsWith('--') ? '' : v;
}

export async function runTestnetCli(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const dirArg = option(rest, '--dir');
  if (!dirArg) {
    console.error(`testnet: --dir DIR is required\n\n${USAGE}`);
    return 2;
  }
  const dir = resolve(dirArg);
  const log = (line: string): void => console.log(line);
  try {
    switch (sub) {
      case 'up': {
        const timeoutArg = option(rest, '--timeout');
        const timeoutS = timeoutArg === undefined ? 240 : Number(timeoutArg);
        if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
          console.error(`testnet: bad --timeout ${JSON.stringify(timeoutArg)}`);
          return 2;
        }
        // The tors run in their own process groups, so Ctrl-C reaches only this process: stop
        // what was started so far instead of leaving half a network behind.
        const onSignal = (): void => {
          console.error('testnet: interrupted; stopping the processes started so far');
          void stopTestnet(dir).finally(() => process.exit(130));
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          await startTestnet({ dir, log, timeoutMs: timeoutS * 1000 });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        return 0;
      }
      case 'down': {
        const { stopped } = await stopTestnet(dir);
        log(readDescription(dir) ? `testnet: stopped ${stopped} processes of the network in ${dir}` : `testnet: no network description in ${dir}`);
        return 0;
      }
      case 'status': {
        const desc = readDescription(dir);
        if (!desc) {
          log(`testnet: no network in ${dir}`);
          return 1;
        }
        const running = isRunning(dir);
        log(
          running
            ? `testnet: running since ${desc.startedAt}: ${desc.relays.length} relays, client SOCKS 127.0.0.1:${desc.client.socksPort}, ` +
                `web 127.0.0.1:${desc.web.port}, onion ${desc.onionService.address}`
            : `testnet: the network in ${dir} is ${desc.ready ? 'not (fully) running' : 'incomplete'}`,
        );
        return running ? 0 : 1;
      }
      default:
        console.error(`testnet: unknown subcommand '${sub}'\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof TelescopeError) {
      console.error(`testnet: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runTestnetCli(process.argv.slice(2));
}
