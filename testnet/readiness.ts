/**
 * When is the network usable? Every relay serves a consensus listing all relays with their forced
 * flags and serves all of their microdescriptors, every tor has bootstrapped, the onion service
 * has uploaded its descriptor, and the web server answers through the client's SocksPort via an
 * exit and via the onion service. The waits here poll tor's DirPorts and logs until then, and
 * fail with the logs of the tors that are late.
 *
 * Just enough consensus and microdescriptor parsing to tell when the network is ready. The real
 * parsers live in shared/; the harness must not depend on the code it is there to test.
 */
import { createHash } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import type { RelayDescription, TestnetDescription } from './description.ts';
import { TestnetError } from './errors.ts';
import { ntorPublicFromKeyFile, padB64, type KeyedNode } from './keys.ts';
import { expectedFlags, type PlacedNode } from './plan.ts';
import { assertRunning, readIfExists, sleep, tail, type RunningTor, type StartedProcess } from './processes.ts';
import { httpGetViaSocks } from './socks.ts';
import type { PathInfo } from './web-content.ts';

/** The clock of one bring-up: its start, its deadline, and where progress lines go. */
export class Bringup {
  readonly t0 = Date.now();
  readonly deadline: number;

  constructor(
    timeoutMs: number,
    readonly log: (line: string) => void,
  ) {
    this.deadline = this.t0 + timeoutMs;
  }

  elapsed(): string {
    return `${Math.round((Date.now() - this.t0) / 1000)} s`;
  }

  /**
   * The network missed its deadline. Quote the logs of the first few tors only: when all of them
   * are late they share one cause, and eight log tails would bury it.
   */
  timeout(what: string, culprits: readonly { node: PlacedNode; why: string }[]): TestnetError {
    return new TestnetError(
      `the test network did not come up within ${Math.round((this.deadline - this.t0) / 1000)} s: ${what}\n` +
        culprits
          .map((c, i) => (i < 3 ? `  ${c.node.plan.nickname}: ${c.why}; end of ${c.node.notice}:\n${tail(c.node.notice)}` : `  ${c.node.plan.nickname}: ${c.why} (log: ${c.node.notice})`))
          .join('\n'),
    );
  }
}

/** GET http://127.0.0.1:port/path (tor's DirPort); resolves undefined on any failure. */
function dirGet(port: number, path: string, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    const req = httpGet({ host: '127.0.0.1', port, path, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise(res.statusCode === 200 ? Buffer.concat(chunks).toString('latin1') : undefined));
      res.on('error', () => resolvePromise(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(undefined));
  });
}

const b64ToHex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex').toUpperCase();

export interface ConsensusEntry {
  readonly nickname: string;
  readonly fingerprint: string;
  readonly flags: readonly string[];
  readonly microdescDigest: string;
}

export function parseConsensusEntries(text: string): ConsensusEntry[] {
  const out: ConsensusEntry[] = [];
  let cur: { nickname: string; fingerprint: string; flags: string[]; microdescDigest: string } | undefined;
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    if (parts[0] === 'r' && parts.length >= 8) {
      if (cur) out.push(cur);
      cur = { nickname: parts[1] ?? '', fingerprint: b64ToHex(parts[2] ?? ''), flags: [], microdescDigest: '' };
    } else if (cur && parts[0] === 's') {
      cur.flags = parts.slice(1);
    } else if (cur && parts[0] === 'm' && parts[1]) {
      cur.microdescDigest = parts[1];
    } else if (parts[0] === 'directory-footer') {
      break;
    }
  }
  if (cur) out.push(cur);
  return out;
}

export interface Microdesc {
  readonly digest: string;
  readonly ntorOnionKey: string | undefined;
  readonly ed25519Identity: string | undefined;
}

/**
 * Split a /tor/micro/d/ response into microdescriptors. Each starts with an "onion-key" line
 * (which may be empty since TAP's removal); its digest is SHA-256 over the exact text.
 */
export function parseMicrodescs(text: string): Microdesc[] {
  const starts: number[] = [];
  const re = /^onion-key\b/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) starts.push(m.index);
  return starts.map((start, i) => {
    const body = text.slice(start, starts[i + 1] ?? text.length);
    const digest = createHash('sha256').update(Buffer.from(body, 'latin1')).digest('base64').replace(/=+$/, '');
    return {
      digest,
      ntorOnionKey: /^ntor-onion-key (\S+)/m.exec(body)?.[1],
      ed25519Identity: /^id ed25519 (\S+)/m.exec(body)?.[1],
    };
  });
}

/** A consensus every relay serves, with the microdescriptors it lists. */
export interface PublishedNetwork {
  readonly entries: readonly ConsensusEntry[];
  readonly microdescs: ReadonlyMap<string, Microdesc>;
}

/** Why `relay` is not ready yet, or the consensus it serves when it is. */
async function relayReadiness(relay: KeyedNode, all: readonly KeyedNode[]): Promise<{ why: string; entries?: ConsensusEntry[] } | PublishedNetwork> {
  const text = await dirGet(relay.dirPort, '/tor/status-vote/current/consensus-microdesc');
  if (!text) return { why: 'serves no consensus yet' };
  const entries = parseConsensusEntries(text);
  const missing: string[] = [];
  for (const want of all) {
    const e = entries.find((x) => x.fingerprint === want.fingerprint);
    const lacking = e ? expectedFlags(want.plan).filter((f) => !e.flags.includes(f)) : [];
    if (!e) missing.push(`${want.plan.nickname} absent`);
    else if (lacking.length) missing.push(`${want.plan.nickname} lacks ${lacking.join(',')}`);
  }
  if (missing.length) return { why: `its consensus: ${missing.join('; ')}`, entries };
  const mdText = await dirGet(relay.dirPort, `/tor/micro/d/${entries.map((e) => e.microdescDigest).join('-')}`);
  const microdescs = new Map(parseMicrodescs(mdText ?? '').map((m) => [m.digest, m]));
  const lackingMd = entries.filter((e) => !microdescs.has(e.microdescDigest)).map((e) => e.nickname);
  if (lackingMd.length) return { why: `does not serve the microdescriptors of ${lackingMd.join(', ')}`, entries };
  if (!readIfExists(relay.notice).includes('Bootstrapped 100%')) return { why: 'has not bootstrapped to 100%', entries };
  return { entries, microdescs };
}

/**
 * Wait until every relay serves a consensus listing all relays with their forced flags, serves all
 * of their microdescriptors, and has bootstrapped itself. Set TELESCOPE_TESTNET_DEBUG=1 to see,
 * every second, why each relay is not ready yet.
 */
export async function waitForConsensus(relays: readonly (KeyedNode & RunningTor)[], bringup: Bringup): Promise<PublishedNetwork> {
  const { log } = bringup;
  const authorities = relays.filter((r) => r.plan.kind === 'authority');
  let lastVotes = -1;
  let lastCount = -1;
  let lastServing = -1;
  for (;;) {
    assertRunning(relays);
    const votes = authorities.filter((a) => readIfExists(a.notice).includes('Uploaded my vote')).length;
    if (votes !== lastVotes) {
      log(`testnet: authorities voting... ${votes}/${authorities.length}`);
      lastVotes = votes;
    }
    const problems: { node: PlacedNode; why: string }[] = [];
    let best = 0;
    let published: PublishedNetwork | undefined;
    for (const r of relays) {
      const state = await relayReadiness(r, relays);
      best = Math.max(best, state.entries?.length ?? 0);
      if ('why' in state) problems.push({ node: r, why: state.why });
      else published = state;
    }
    if (best !== lastCount) {
      if (best > 0) log(`testnet: consensus has ${best} relays (${bringup.elapsed()})`);
      lastCount = best;
    }
    if (process.env.TELESCOPE_TESTNET_DEBUG) log(`testnet: [debug ${bringup.elapsed()}] ${problems.map((p) => `${p.node.plan.nickname}: ${p.why}`).join(' | ')}`);
    const serving = relays.length - problems.length;
    if (serving !== lastServing) {
      log(`testnet: ${serving}/${relays.length} relays serve the full consensus and are bootstrapped`);
      lastServing = serving;
    }
    if (problems.length === 0 && published) return published;
    if (Date.now() > bringup.deadline) throw bringup.timeout('relays not ready', problems);
    await sleep(1000);
  }
}

/** Relay keys as the network publishes them, cross-checked with the keys on disk. */
export function describeRelays(relays: readonly KeyedNode[], published: PublishedNetwork): RelayDescription[] {
  return relays.map((r) => {
    const entry = published.entries.find((e) => e.fingerprint === r.fingerprint);
    const md = entry ? published.microdescs.get(entry.microdescDigest) : undefined;
    if (!entry || !md?.ntorOnionKey || !md.ed25519Identity) throw new TestnetError(`${r.plan.nickname}: no microdescriptor with ntor and ed25519 keys`);
    const ntor = padB64(md.ntorOnionKey);
    const ed = padB64(md.ed25519Identity);
    if (ed !== r.ed25519) throw new TestnetError(`${r.plan.nickname}: microdescriptor ed25519 id ${ed} differs from fingerprint-ed25519 ${r.ed25519}`);
    const onDisk = ntorPublicFromKeyFile(join(r.dataDir, 'keys', 'secret_onion_key_ntor'));
    if (onDisk !== ntor) throw new TestnetError(`${r.plan.nickname}: microdescriptor ntor key differs from keys/secret_onion_key_ntor`);
    return {
      nickname: r.plan.nickname,
      fingerprint: r.fingerprint,
      ed25519Identity: ed,
      ntorOnionKey: ntor,
      address: '127.0.0.1',
      orPort: r.orPort,
      dirPort: r.dirPort,
      roles: r.plan.roles,
      exitPolicy: r.plan.exitPolicy,
      flags: entry.flags,
    };
  });
}

/**
 * Wait until the client and the onion service have bootstrapped and the service has uploaded its
 * descriptor; returns the service's .onion address.
 */
export async function waitForClientAndOnion(client: RunningTor, onion: RunningTor, everyone: readonly RunningTor[], bringup: Bringup): Promise<string> {
  const onionInfo = join(onion.node.dataDir, 'info.log');
  let announced = new Set<string>();
  let firstUpload = 0;
  for (;;) {
    assertRunning(everyone);
    const pending: { node: PlacedNode; why: string }[] = [];
    for (const t of [client, onion]) {
      const n = t.node;
      if (!readIfExists(n.notice).includes('Bootstrapped 100%')) pending.push({ node: n, why: 'has not bootstrapped to 100%' });
      else if (!announced.has(n.plan.nickname)) {
        announced = new Set([...announced, n.plan.nickname]);
        bringup.log(`testnet: ${n.plan.nickname} (${n.plan.kind}) bootstrapped (${bringup.elapsed()})`);
      }
    }
    const uploads = (readIfExists(onionInfo).match(/Uploaded hidden service descriptor \(status 200/g) ?? []).length;
    if (uploads > 0 && firstUpload === 0) {
      firstUpload = Date.now();
      bringup.log(`testnet: onion service descriptor uploaded (${bringup.elapsed()})`);
    }
    // The uploads to the other HSDirs follow within a moment; a client that asks an HSDir too
    // early is told "not found" and does not ask that HSDir again for minutes.
    if (uploads === 0 || Date.now() - firstUpload < 3000) pending.push({ node: onion.node, why: 'has not uploaded its descriptor' });
    if (pending.length === 0) break;
    if (Date.now() > bringup.deadline) throw bringup.timeout('client or onion service not ready', pending);
    await sleep(500);
  }
  const hostname = readIfExists(join(onion.node.dataDir, 'hs', 'hostname')).trim();
  if (!/^[a-z2-7]{56}\.onion$/.test(hostname)) throw new TestnetError(`onion service hostname file holds ${JSON.stringify(hostname)}`);
  return hostname;
}

/** GET /hello through the client's SocksPort until it answers with the right body (or the deadline passes). */
export async function fetchHello(
  target: { host: string; port: number; what: string; hello: PathInfo },
  client: RunningTor,
  onion: RunningTor,
  everyone: readonly RunningTor[],
  bringup: Bringup,
): Promise<void> {
  const { host, port, what } = target;
  let lastErr: unknown;
  while (Date.now() < bringup.deadline) {
    try {
      const res = await httpGetViaSocks({ socksPort: client.node.socksPort, host, port, path: '/hello', timeoutMs: Math.max(5000, Math.min(60_000, bringup.deadline - Date.now())) });
      const got = createHash('sha256').update(res.body).digest('hex');
      if (res.status === 200 && got === target.hello.sha256) {
        bringup.log(`testnet: fetched /hello ${what} (${bringup.elapsed()})`);
        return;
      }
      lastErr = new TestnetError(`status ${res.status}, body sha256 ${got}`);
    } catch (err) {
      lastErr = err;
    }
    assertRunning(everyone);
    await sleep(1000);
  }
  throw new TestnetError(
    `the test network did not come up within ${Math.round((bringup.deadline - bringup.t0) / 1000)} s: GET http://${host}:${port}/hello ${what} failed: ` +
      `${(lastErr as Error)?.message}\n` +
      `  ${client.node.plan.nickname}: end of ${client.node.notice}:\n${tail(client.node.notice)}\n` +
      `  ${onion.node.plan.nickname}: end of ${onion.node.notice}:\n${tail(onion.node.notice)}`,
    { cause: lastErr },
  );
}

/**
 * Wait until a restarted tor has bootstrapped again (only log lines after `logOffset` count) and,
 * for a relay, an authority's consensus lists it as Running.
 */
export async function waitUntilBack(
  desc: TestnetDescription,
  nickname: string,
  tor: StartedProcess,
  opts: { logFile: string; logOffset: number; timeoutMs: number },
): Promise<void> {
  const relay = desc.relays.find((r) => r.nickname === nickname);
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const exited = tor.exited();
    if (exited) throw new TestnetError(`tor ${nickname} ${exited} after restart; end of ${opts.logFile}:\n${tail(opts.logFile)}`);
    let ready = readIfExists(opts.logFile).slice(opts.logOffset).includes('Bootstrapped 100%');
    if (ready && relay) {
      const authority = desc.authorities[0];
      const text = authority ? await dirGet(authority.dirPort, '/tor/status-vote/current/consensus-microdesc') : undefined;
      const entry = parseConsensusEntries(text ?? '').find((e) => e.fingerprint === relay.fingerprint);
      ready = !!entry?.flags.includes('Running');
    }
    if (ready) return;
    if (Date.now() > deadline) throw new TestnetError(`tor ${nickname} did not come back within ${Math.round(opts.timeoutMs / 1000)} s; end of ${opts.logFile}:\n${tail(opts.logFile)}`);
    await sleep(500);
  }
}
