import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TorClient } from '../shared/client/index.ts';
import { parseDirAuthorityLine } from '../shared/config/index.ts';
import type { DirAuthority } from '../shared/directory/index.ts';
import type { ManagedCircuit } from '../shared/circmgr/index.ts';
import type { Logger } from '../shared/util/index.ts';
import { SocksServer } from '../node-client/socks.ts';
import type { TestnetDescription } from './index.ts';
import { createNodeTorClient } from '../node-client/node-client.ts';

/**
 * A Telescope client with its SOCKS port, running in the test process against the private
 * network, wired exactly as `telescope client` wires it. Every stream the SOCKS port opens is
 * recorded with its isolation key and circuit, so tests can see which circuit carried what.
 */

export interface StreamRecord {
  readonly host: string;
  readonly port: number;
  readonly isolationKey: string;
  readonly circuit: ManagedCircuit;
}

export interface RunningClient {
  readonly client: TorClient;
  readonly socksPort: number;
  readonly streams: StreamRecord[];
  readonly log: string[];
  stop(): Promise<void>;
}

/** The network's authorities, read from the DirAuthority lines its tors are configured with. */
export function authoritiesOf(desc: TestnetDescription): DirAuthority[] {
  return desc.authorities.map((a, i) => parseDirAuthorityLine(a.dirAuthorityLine, i));
}

export async function startTelescopeClient(desc: TestnetDescription): Promise<RunningClient> {
  const dataDir = await mkdtemp(join(tmpdir(), 'telescope-client-'));
  const lines: string[] = [];
  const record = (level: string) => (m: string) => { lines.push(`[${level}] ${m}`); };
  const log: Logger = { debug: () => {}, info: record('info'), notice: record('notice'), warn: record('warn') };
  const client = createNodeTorClient({
    dataDirectory: dataDir,
    authorities: authoritiesOf(desc),
    log,
    rules: { enforceDistinctSubnets: false },
  });
  const streams: StreamRecord[] = [];
  const socks = new SocksServer({
    async connect(host, port, isolationKey) {
      const { stream, circuit } = await client.connect(host, port, { isolationKey });
      streams.push({ host, port, isolationKey, circuit });
      return stream;
    },
    resolve: (host, isolationKey) => client.resolve(host, { isolationKey }),
  }, log);
  const socksPort = await socks.listen(0);
  await client.bootstrap();
  return {
    client,
    socksPort,
    streams,
    log: lines,
    async stop() {
      await client.close();
      await socks.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
