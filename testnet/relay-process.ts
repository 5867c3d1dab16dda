import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestnetDescription } from './index.ts';
import { ownedByThisProcess, stopChild } from './stop-child.ts';
import { dirPortGet } from '../node-platform/dirport.ts';
import { fromHex, toBase64 } from '../shared/bytes/index.ts';
import { UNEXPECTED_ERROR_MARKER, unexpectedErrorsIn } from '../shared/util/index.ts';
import { ProtocolList } from '../shared/netdoc/index.ts';
import { TELESCOPE_RELAY_PROTOCOLS } from '../shared/relay/index.ts';

/**
 * tor 0.4.9's required-relay-protocols: compiled into its authorities (there is no torrc option
 * to change them), so every consensus of the private network carries them.
 */
export const TOR_049_REQUIRED_RELAY_PROTOCOLS = ProtocolList.parse('Cons=2 Desc=2 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=2 Link=4-5 LinkAuth=3 Microdesc=2 Relay=2-4');

/**
 * The private network's relay-bridges run with the protocols they lack named in
 * IgnoreMissingRequiredProtocols: without it each would stop at its first consensus, as the
 * protocol check requires (README, "What the relay advertises").
 */
export const TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS = `IgnoreMissingRequiredProtocols ${TOR_049_REQUIRED_RELAY_PROTOCOLS.missingFrom(TELESCOPE_RELAY_PROTOCOLS).toString()}`;

/**
 * A relay-bridge started the way an operator starts it (`telescope relay -f FILE`), as its own
 * process, configured for the private network. Tests read its bridge lines from what it prints.
 */

export interface RelayProcess {
  readonly fingerprint: string;
  /** `telescope ws://…` line for WebSocket clients. */
  readonly webSocketLine: string;
  readonly webSocketUrl: string;
  readonly orPort: number;
  readonly webSocketPort: number;
  readonly ntorKey: string;
  readonly pid: number;
  readonly output: () => string;
  readonly dataDirectory: string;
  /** Resident memory of the relay process, in KiB (from /proc). */
  rssKiB(): number;
  /**
   * Stop the relay. Rejects when it caught any unexpected error (its process net and its
   * circuits log them with the UNEXPECTED ERROR marker and count them in its last status line):
   * the net keeps a relay up, it must not hide bugs from the tests.
   */
  stop(): Promise<void>;
}

/** Throws if a relay's output shows unexpected errors caught (a marker line or a count above 0). */
export function checkNoUnexpectedErrors(output: string, what = 'the relay-bridge'): void {
  const lines = output.split('\n').filter((l) => l.includes(UNEXPECTED_ERROR_MARKER));
  const count = unexpectedErrorsIn(output) ?? 0;
  if (lines.length > 0 || count > 0) {
    throw new Error(`${what} caught ${Math.max(count, lines.length)} unexpected error(s):\n${lines.slice(0, 10).join('\n')}`);
  }
}

/**
 * Start a relay-bridge for `desc`. `prepare` runs on its (still empty) DataDirectory before the
 * relay starts, e.g. to leave a directory cache there as an earlier run would have. `extraLines`
 * that set IgnoreMissingRequiredProtocols replace the network's default one.
 */
export async function startRelayProcess(
  desc: TestnetDescription,
  extraLines: readonly string[] = [],
  nickname = 'telescopebridge',
  prepare?: (dataDirectory: string) => Promise<void>,
): Promise<RelayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'telescope-relay-'));
  if (prepare) await prepare(join(dir, 'data'));
  const torrc = join(dir, 'torrc');
  await writeFile(torrc, [
    `Nickname ${nickname}`,
    'Address 127.0.0.1',
    'ORPort 127.0.0.1:auto',
    'WebSocketPort 127.0.0.1:auto',
    `DataDirectory ${dir}/data`,
    'TestingTorNetwork 1',
    'AssumeReachable 1',
    'Log notice stdout',
    ...desc.authorities.map((a) => a.dirAuthorityLine),
    ...(extraLines.some((l) => l.startsWith('IgnoreMissingRequiredProtocols')) ? [] : [TESTNET_IGNORE_MISSING_RELAY_PROTOCOLS]),
    ...extraLines,
    '',
  ].join('\n'));
  const child: ChildProcess = spawn(process.execPath, ['bin/telescope.js', 'relay', '-f', torrc], { env: ownedByThisProcess(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const deadline = Date.now() + 60_000;
  let ws: RegExpExecArray | null = null;
  let or: RegExpExecArray | null = null;
  while (Date.now() < deadline && child.exitCode === null) {
    ws = /Bridge line for the extension: (telescope (ws:\/\/\S+) ([0-9A-F]{40}) ed25519=\S+ ntor=(\S+))/.exec(out);
    or = /Bridge line for tor: Bridge 127\.0\.0\.1:(\d+) ([0-9A-F]{40})/.exec(out);
    if (ws && or) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // A relay may print its lines and exit between two looks (one that refuses the network at once).
  ws ??= /Bridge line for the extension: (telescope (ws:\/\/\S+) ([0-9A-F]{40}) ed25519=\S+ ntor=(\S+))/.exec(out);
  or ??= /Bridge line for tor: Bridge 127\.0\.0\.1:(\d+) ([0-9A-F]{40})/.exec(out);
  if (!ws || !or) {
    child.kill('SIGKILL');
    throw new Error(`relay-bridge did not start:\n${out}`);
  }
  return {
    fingerprint: ws[3]!,
    webSocketLine: ws[1]!,
    webSocketUrl: ws[2]!,
    orPort: Number(or[1]),
    webSocketPort: Number(/:(\d+)\/?$/.exec(ws[2]!)![1]),
    ntorKey: ws[4]!,
    pid: child.pid!,
    output: () => out,
    dataDirectory: join(dir, 'data'),
    rssKiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN),
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
      checkNoUnexpectedErrors(out);
    },
  };
}

/** Wait until the authorities' consensus lists `fingerprint` as Running and Valid; returns its entry. */
export async function waitForConsensusListing(desc: TestnetDescription, fingerprint: string, timeoutMs = 150_000): Promise<string> {
  const auth = desc.authorities[0]!;
  const id = toBase64(fromHex(fingerprint), false);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = new TextDecoder().decode(await dirPortGet(auth.address, auth.dirPort, '/tor/status-vote/current/consensus-microdesc'));
    // Router entries start with "r NICKNAME IDENTITY ..."; the entry runs to the next one.
    const entry = text.split('\nr ').slice(1).find((e) => e.split(' ')[1] === id);
    if (entry && /\ns [^\n]*Running/.test(entry) && /\ns [^\n]*Valid/.test(entry)) return `r ${entry}`;
    if (Date.now() > deadline) throw new Error(`${fingerprint} is not in the consensus as Running and Valid after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
