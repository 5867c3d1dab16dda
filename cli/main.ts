/**
 * The `telescope` command line: one entry with subcommands. Each subcommand is its own module and
 * is loaded only when asked for, so `telescope selfcheck` does not pull in network code.
 */
import { whenProcessGone } from '../node-platform/process-watch.ts';

interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  client: {
    summary: 'run the Tor client with a SOCKS5 port (telescope client -f FILE, torrc syntax)',
    async run(args) {
      const { runClientCli } = await import('./client.ts');
      return runClientCli(args);
    },
  },
  'onion-service': {
    summary: 'host v3 onion services (telescope onion-service -f FILE, torrc HiddenServiceDir/HiddenServicePort)',
    async run(args) {
      const { runOnionServiceCli } = await import('./onion-service.ts');
      return runOnionServiceCli(args);
    },
  },
  relay: {
    summary: 'run the relay-bridge: a Tor relay with a WebSocket port for browsers (telescope relay -f FILE)',
    async run(args) {
      const { runRelayCli } = await import('./relay.ts');
      return runRelayCli(args);
    },
  },
  selfcheck: {
    summary: 'build a 3-hop circuit\'s crypto end to end in memory and show each step',
    async run(args) {
      const { runSelfcheckCli } = await import('./selfcheck.ts');
      return runSelfcheckCli(args);
    },
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return ['usage: telescope <command> [options]', '', 'commands:', ...lines].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`telescope: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const owner = process.env.TELESCOPE_OWNER_PID;
  if (owner !== undefined && owner !== '') {
    if (!/^[1-9][0-9]*$/.test(owner)) {
      console.error(`telescope: TELESCOPE_OWNER_PID must be a process id, not '${owner}'`);
      return 2;
    }
    exitWithOwner(Number(owner));
  }
  return command.run(rest);
}

/**
 * TELESCOPE_OWNER_PID=PID: stop (as on SIGTERM, so the command shuts down cleanly) once that
 * process is gone, as tor's __OwningControllerProcess does. A supervisor that is SIGKILLed runs
 * no handler, so what it started has to notice by itself; tests and benches set it to their own
 * pid so that no relay, client or onion service outlives them.
 */
function exitWithOwner(pid: number): void {
  whenProcessGone(pid, () => {
    console.error(`telescope: owning process ${pid} is gone; stopping`);
    process.kill(process.pid, 'SIGTERM');
  });
}
