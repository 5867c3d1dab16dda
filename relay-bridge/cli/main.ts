/**
 * The `telescope` command line: one entry with subcommands. Each subcommand is its own module and
 * is loaded only when asked for, so `telescope selfcheck` does not pull in network code.
 */

interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'a private tor network, a relay-bridge and Chromium with the extension, all on 127.0.0.1 (npm start)',
    async run(args) {
      const { runStartCli } = await import('./start.ts');
      return runStartCli(args);
    },
  },
  client: {
    summary: 'run the Tor client with a SOCKS5 port (telescope client -f FILE, torrc syntax)',
    async run(args) {
      const { runClientCli } = await import('../client/client-cli.ts');
      return runClientCli(args);
    },
  },
  'onion-service': {
    summary: 'host v3 onion services (telescope onion-service -f FILE, torrc HiddenServiceDir/HiddenServicePort)',
    async run(args) {
      const { runOnionServiceCli } = await import('../onion/service-cli.ts');
      return runOnionServiceCli(args);
    },
  },
  relay: {
    summary: 'run the relay-bridge: a Tor relay with a WebSocket port for browsers (telescope relay -f FILE)',
    async run(args) {
      const { runRelayCli } = await import('../relay/relay-cli.ts');
      return runRelayCli(args);
    },
  },
  testnet: {
    summary: 'start or stop a private tor network on 127.0.0.1 (testnet up|down|status --dir DIR)',
    async run(args) {
      const { runTestnetCli } = await import('../../e2e/testnet/cli.ts');
      return runTestnetCli(args);
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
  return command.run(rest);
}
