/**
 * A private Tor network on 127.0.0.1 built from Debian's tor 0.4.9: three directory authorities,
 * five more relays (guards, a middle, two exits), a v3 onion service in front of a small web
 * server, and a plain tor client with a SocksPort as the comparison peer (plan.ts).
 *
 * startTestnet() returns once the network is usable end to end (readiness.ts); its description
 * (DIR/network.json, description.ts) tells tests everything they need to reach the network without
 * parsing tor's files again. The tors and the web server are detached processes, so `npm run
 * testnet -- up` can return and leave them running; stopTestnet(dir) kills exactly the processes
 * recorded in network.json. A network started with an owner (StartOptions.ownerPid: `npm start`,
 * the e2e run) ends with that process however it ends, SIGKILL included (processes.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../shared/util/index.ts';
import { DESCRIPTION_FILE, DescriptionDraft, readDescription, writeDescription, type TestnetDescription } from './description.ts';
import { TestnetError } from './errors.ts';
import { authorityKeys, generateKeys, type KeyedNode } from './keys.ts';
import { NETWORK_PLAN, isRelay, layOut, type NetworkLayout } from './plan.ts';
import {
  anyStillOurs,
  describeTor,
  freePorts,
  isRunning,
  killNetworkProcesses,
  readIfExists,
  startTor,
  startWebServer,
  stopTestnet,
  torVersion,
  type RunningTor,
} from './processes.ts';
import { Bringup, describeRelays, fetchHello, waitForClientAndOnion, waitForConsensus, waitUntilBack } from './readiness.ts';
import { httpGetViaSocks } from './socks.ts';
import { bandwidthFile, clientTorrc, dirAuthorityLine, onionServiceTorrc, relayTorrc, resolvConf } from './torrc.ts';
import { describeWebPaths } from './web-content.ts';

export interface Testnet {
  readonly dir: string;
  readonly description: TestnetDescription;
  /** True when reuseOrStart found this network already running. */
  readonly reused: boolean;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly dir: string;
  /** Progress lines ("testnet: ..."); silent if omitted. */
  readonly log?: (line: string) => void;
  /** Overall deadline for the network to come up (default 240 s). */
  readonly timeoutMs?: number;
  /**
   * Tie the network's life to this process: every tor gets `__OwningControllerProcess PID` (tor
   * polls the pid every 15 s and exits once it is gone) and the web server watches it too, so the
   * network ends with its owner even when the owner is SIGKILLed and runs no handler. `npm start`
   * and the e2e run pass their own pid; `npm run testnet -- up` passes none, because its network
   * must keep running after the command returns.
   */
  readonly ownerPid?: number;
}

function handle(absDir: string, description: TestnetDescription, reused: boolean): Testnet {
  return {
    dir: absDir,
    description,
    reused,
    async stop() {
      await stopTestnet(absDir);
    },
  };
}

/** Refuse to wipe a directory that is not ours; stop what a previous run left in it. */
async function prepareDir(absDir: string): Promise<void> {
  if (existsSync(absDir)) {
    const desc = readDescription(absDir);
    if (desc) {
      if (anyStillOurs(absDir, desc.pids)) {
        throw new UsageError(`a test network is already running in ${absDir}: stop it first (npm run testnet -- down --dir ${absDir})`);
      }
    } else if ((await readdir(absDir)).length > 0) {
      throw new UsageError(`${absDir} is not empty and holds no ${DESCRIPTION_FILE}: refusing to delete it`);
    }
    await rm(absDir, { recursive: true, force: true });
  }
  await mkdir(absDir, { recursive: true, mode: 0o700 });
}

/** Write every tor's torrc and the authorities' bandwidth file (the web server's DNS port is known by now). */
async function writeTorrcs(layout: NetworkLayout, nodes: readonly KeyedNode[], authorities: readonly KeyedNode[], web: { http: number; dns: number }): Promise<void> {
  const relays = nodes.filter((n) => isRelay(n.plan));
  const authKeys = authorities.map(authorityKeys);
  await writeFile(layout.resolvConf, resolvConf(web.dns));
  await writeFile(`${layout.bandwidthFile}.tmp`, bandwidthFile(relays.map((r) => ({ fingerprint: r.fingerprint, bandwidth: r.plan.bandwidth })), new Date()));
  await rename(`${layout.bandwidthFile}.tmp`, layout.bandwidthFile);
  const guards = relays.filter((r) => r.plan.roles.includes('guard')).map((r) => r.fingerprint);
  const exits = relays.filter((r) => r.plan.roles.includes('exit')).map((r) => r.fingerprint);
  const hsdirs = relays.map((r) => r.fingerprint);
  for (const n of nodes) {
    const base = { nickname: n.plan.nickname, dataDir: n.dataDir, authorities: authKeys };
    let text: string;
    if (n.plan.kind === 'authority' || n.plan.kind === 'relay') {
      text = relayTorrc({
        ...base,
        kind: n.plan.kind,
        orPort: n.orPort,
        dirPort: n.dirPort,
        exitPolicy: n.plan.exitPolicy,
        isExit: n.plan.roles.includes('exit'),
        resolvConf: layout.resolvConf,
        ...(n.plan.kind === 'authority' ? { bandwidthFile: layout.bandwidthFile, guards, exits, hsdirs } : {}),
      });
    } else if (n.plan.kind === 'client') {
      text = clientTorrc({ ...base, socksPort: n.socksPort });
    } else {
      text = onionServiceTorrc({ ...base, infoLog: true, hiddenServiceDir: join(n.dataDir, 'hs'), webPort: web.http });
    }
    await mkdir(n.dataDir, { recursive: true, mode: 0o700 });
    await writeFile(n.torrc, text);
  }
}

export async function startTestnet(opts: StartOptions): Promise<Testnet> {
  const absDir = resolve(opts.dir);
  const bringup = new Bringup(opts.timeoutMs ?? 240_000, opts.log ?? ((): void => {}));
  const { log } = bringup;
  const version = await torVersion();
  await prepareDir(absDir);
  const layout = layOut(absDir, await freePorts(NETWORK_PLAN.length * 2));
  await writeFile(layout.emptyTorrc, '');
  const client = layout.nodes.find((n) => n.plan.kind === 'client');
  const onion = layout.nodes.find((n) => n.plan.kind === 'onion-service');
  if (!client || !onion) throw new UsageError('NETWORK_PLAN needs a client and an onion service');
  const webPaths = describeWebPaths();
  const draft = new DescriptionDraft({
    dir: absDir,
    torVersion: version,
    startedAt: new Date(bringup.t0),
    ownerPid: opts.ownerPid,
    onionNickname: onion.plan.nickname,
    client: { nickname: client.plan.nickname, socksPort: client.socksPort },
    webPaths,
  });

  try {
    // 1. Keys: v3 authority certificates and relay identities, all in parallel.
    const nodes = await Promise.all(layout.nodes.map((n) => generateKeys(n, layout.emptyTorrc)));
    const relays = nodes.filter((n) => isRelay(n.plan));
    const authorities = nodes.filter((n) => n.plan.kind === 'authority');
    draft.setAuthorities(
      authorities.map((a) => ({
        nickname: a.plan.nickname,
        dirAuthorityLine: dirAuthorityLine(authorityKeys(a)),
        v3ident: a.v3ident,
        fingerprint: a.fingerprint,
        address: '127.0.0.1',
        orPort: a.orPort,
        dirPort: a.dirPort,
      })),
    );
    log(`testnet: keys for ${authorities.length} authorities and ${relays.length - authorities.length} relays created (${bringup.elapsed()})`);

    // 2. The web server (and the exits' DNS), recorded before we wait for it.
    await mkdir(layout.webDir, { recursive: true });
    const web = startWebServer(layout.webDir, opts.ownerPid);
    draft.addProcess({ nickname: 'web', kind: 'web', pid: web.pid, dir: layout.webDir, log: web.log });
    await draft.write(false);
    const webPorts = await web.ports(bringup.t0 + 60_000);
    draft.setWeb(webPorts);
    log(`testnet: web server on 127.0.0.1:${webPorts.http}, DNS for the exits on 127.0.0.1:${webPorts.dns} (${bringup.elapsed()})`);

    // 3. torrcs, then the authorities and relays.
    await writeTorrcs(layout, nodes, authorities, webPorts);
    const start = (n: KeyedNode): KeyedNode & RunningTor => {
      const tor = startTor({ nickname: n.plan.nickname, dataDir: n.dataDir, torrc: n.torrc, emptyTorrc: layout.emptyTorrc, ownerPid: opts.ownerPid });
      const running = { ...n, node: n, pid: tor.pid, exited: tor.exited };
      draft.addProcess(describeTor(running));
      return running;
    };
    const runningRelays = relays.map(start);
    await draft.write(false);
    log(`testnet: started ${relays.length} relays (${authorities.length} authorities) (${bringup.elapsed()})`);

    // 4. A consensus every relay serves, and the relays' keys as the network publishes them.
    const published = await waitForConsensus(runningRelays, bringup);
    draft.setRelays(describeRelays(relays, published));

    // 5. Client and onion service, now that the consensus is complete everywhere.
    const onionTor = start(nodes.find((n) => n.plan.kind === 'onion-service')!);
    const clientTor = start(nodes.find((n) => n.plan.kind === 'client')!);
    await draft.write(false);
    log(`testnet: client and onion service bootstrapping... (${bringup.elapsed()})`);
    const everyone = [...runningRelays, onionTor, clientTor];
    const onionAddress = await waitForClientAndOnion(clientTor, onionTor, everyone, bringup);

    // 6. End to end through the client: via an exit, and via the onion service.
    for (const target of [
      { host: '127.0.0.1', port: webPorts.http, what: 'through an exit' },
      { host: 'localhost', port: webPorts.http, what: 'through an exit by name' },
      { host: onionAddress, port: 80, what: 'through the onion service' },
    ]) {
      await fetchHello({ ...target, hello: webPaths['/hello'] }, clientTor, onionTor, everyone, bringup);
    }

    draft.setOnionAddress(onionAddress);
    const description = await draft.write(true);
    log(`testnet: up in ${bringup.elapsed()}; description in ${join(absDir, DESCRIPTION_FILE)}`);
    return handle(absDir, description, false);
  } catch (err) {
    await killNetworkProcesses(absDir, draft.pids());
    throw err;
  }
}

/**
 * Use the network already running in DIR if it is complete and answers through its client,
 * otherwise clean up whatever is left there and start a new one.
 */
export async function reuseOrStart(dir: string, opts: Omit<StartOptions, 'dir'> = {}): Promise<Testnet> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (desc && isRunning(absDir)) {
    try {
      const res = await httpGetViaSocks({ socksPort: desc.client.socksPort, host: '127.0.0.1', port: desc.web.port, path: '/hello', timeoutMs: 30_000 });
      if (res.status === 200) {
        opts.log?.(`testnet: reusing the network in ${absDir} (up since ${desc.startedAt})`);
        return handle(absDir, desc, true);
      }
    } catch (err) {
      opts.log?.(`testnet: the network in ${absDir} does not answer (${(err as Error).message}); starting a new one`);
    }
  }
  if (desc) await stopTestnet(absDir);
  return startTestnet({ ...opts, dir: absDir });
}

/**
 * Start one tor of a running network again (after a test killed it) with its own torrc and
 * DataDirectory, so it keeps its keys. Stops it first if it still runs. Resolves once it has
 * bootstrapped again and, for a relay, an authority's consensus lists it as Running; the
 * description in DIR/network.json is rewritten with the new pid, and returned.
 */
export async function restartRelay(dir: string, nickname: string, opts: { timeoutMs?: number; log?: (line: string) => void } = {}): Promise<TestnetDescription> {
  const absDir = resolve(dir);
  const desc = readDescription(absDir);
  if (!desc) throw new UsageError(`no network description in ${absDir}`);
  const proc = desc.processes.find((p) => p.nickname === nickname);
  if (!proc || proc.kind === 'web') throw new UsageError(`no tor named ${nickname} in ${absDir}`);
  await killNetworkProcesses(absDir, [proc.pid]);
  // Only "Bootstrapped 100%" lines written after the restart count.
  const logOffset = readIfExists(proc.log).length;
  // A restarted tor keeps the network's owner.
  const tor = startTor({ nickname, dataDir: proc.dir, torrc: join(proc.dir, 'torrc'), emptyTorrc: join(absDir, 'empty-torrc'), ownerPid: desc.ownerPid });
  const updated: TestnetDescription = {
    ...desc,
    pids: desc.pids.map((p) => (p === proc.pid ? tor.pid : p)),
    processes: desc.processes.map((p) => (p.nickname === nickname ? { ...p, pid: tor.pid } : p)),
  };
  await writeDescription(absDir, updated);
  opts.log?.(`testnet: restarted ${nickname} (pid ${tor.pid})`);
  await waitUntilBack(desc, nickname, tor, { logFile: proc.log, logOffset, timeoutMs: opts.timeoutMs ?? 120_000 });
  return updated;
}
