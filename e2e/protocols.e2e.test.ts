import { afterAll, describe, expect, it } from 'vitest';
import { TELESCOPE_CLIENT_PROTOCOLS, TorClient } from '../shared/client/index.ts';
import { MissingProtocolsError } from '../shared/directory/index.ts';
import { ProtocolList } from '../shared/netdoc/index.ts';
import { MemoryStore, type Logger } from '../shared/util/index.ts';
import { readResponse } from '../shared/http/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { authoritiesOf } from '../testnet/telescope-client.ts';
import { startRelayProcess, TOR_049_REQUIRED_RELAY_PROTOCOLS, type RelayProcess } from '../testnet/relay-process.ts';
import { sharedTestnet, sha256 } from './shared-testnet.ts';

/**
 * The consensus' protocol requirements as tor 0.4.9's authorities vote them (compiled in: 0.4.9
 * has no torrc option to change them), checked by Telescope's client and relay:
 *   required-client-protocols    Cons=2 Desc=2 FlowCtrl=1 Link=4 Microdesc=2 Relay=2
 *   recommended-client-protocols Cons=2 Desc=2 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4 HSRend=2 Link=4-5 Microdesc=2 Relay=2-4
 *   required-relay-protocols     Cons=2 Desc=2 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=2 Link=4-5 LinkAuth=3 Microdesc=2 Relay=2-4
 * The private network's consensus is newer than the lists' date, so it is checked.
 */

const desc = sharedTestnet();
const relays: RelayProcess[] = [];
afterAll(async () => {
  for (const r of relays) await r.stop().catch(() => {});
});

function collectingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => void lines.push(`[${level}] ${m}`);
  return { lines, debug() {}, info: add('info'), notice: add('notice'), warn: add('warn') };
}

function client(log: Logger, protocols?: ProtocolList): TorClient {
  return new TorClient({
    authorities: authoritiesOf(desc),
    transports: tlsTransportFactory,
    store: new MemoryStore(),
    rules: { enforceDistinctSubnets: false },
    log,
    ...(protocols ? { protocols: { role: 'client', supported: protocols } } : {}),
  });
}

describe('protocol requirements of a tor 0.4.9 network', () => {
  it('the Node client is accepted, warns once about the recommended protocols it lacks, and fetches a page', async () => {
    const log = collectingLog();
    const c = client(log);
    try {
      await c.bootstrap();
      const warnings = log.lines.filter((l) => l.includes('recommends protocols'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('recommends protocols this version of Telescope does not implement: FlowCtrl=2 Relay=3-4.');
      const { stream } = await c.connect('127.0.0.1', desc.web.port);
      await stream.write(new TextEncoder().encode('GET /hello HTTP/1.0\r\n\r\n'));
      expect(sha256((await readResponse(stream)).body)).toBe(desc.web.paths['/hello'].sha256);
    } finally {
      await c.close();
    }
  }, 120_000);

  it('a client lacking a required protocol stops at the consensus, naming it, and never connects', async () => {
    // The same client software with FlowCtrl=1 taken out of what it claims.
    const log = collectingLog();
    const c = client(log, TELESCOPE_CLIENT_PROTOCOLS.missingFrom(ProtocolList.parse('FlowCtrl=1')));
    try {
      const error = await c.bootstrap().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(MissingProtocolsError);
      expect((error as MissingProtocolsError).missing.toString()).toBe('FlowCtrl=1');
      expect(c.bootstrapStatus.problem?.kind).toBe('protocols-missing');
      expect(c.bootstrapStatus.problem?.message).toContain('too old for the Tor network');
      expect(log.lines.some((l) => l.startsWith('[warn]') && l.includes('requires protocols this version of Telescope does not implement: FlowCtrl=1'))).toBe(true);
      await expect(c.connect('127.0.0.1', desc.web.port)).rejects.toBeInstanceOf(MissingProtocolsError);
    } finally {
      await c.close();
    }
  }, 120_000);

  it('a relay-bridge stops at the consensus and exits, naming the relay protocols it lacks; with them named in IgnoreMissingRequiredProtocols it runs', async () => {
    const missing = TOR_049_REQUIRED_RELAY_PROTOCOLS.missingFrom(
      ProtocolList.parse('Cons=1-2 Desc=1-2 DirCache=2 FlowCtrl=1 Link=4-5 LinkAuth=3 Microdesc=1-2 Relay=2'),
    ).toString();
    expect(missing).toBe('FlowCtrl=2 HSDir=2 HSIntro=4-5 HSRend=2 Relay=3-4');
    // Naming only part of what is missing replaces the network's default line and ignores nothing.
    const refused = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0', 'IgnoreMissingRequiredProtocols Relay=3-4'], 'protorefused');
    relays.push(refused);
    const deadline = Date.now() + 60_000;
    while (!refused.output().includes('stopping:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(refused.output()).toContain(`requires protocols this version of Telescope does not implement: ${missing}. It will not work as a relay on this network`);
    const exited = await waitForExit(refused.pid, 20_000);
    expect(exited).toBe(true);

    const running = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'protoignored');
    relays.push(running);
    while (!running.output().includes('running anyway') && Date.now() < deadline + 60_000) await new Promise((r) => setTimeout(r, 200));
    expect(running.output()).toContain(`requires protocols this version of Telescope does not implement: ${missing}; running anyway`);
    expect(processAlive(running.pid)).toBe(true);
  }, 180_000);
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
