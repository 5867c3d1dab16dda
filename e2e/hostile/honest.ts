import { Circuit } from '../../shared/circuit/index.ts';
import type { Channel } from '../../shared/channel/index.ts';
import { readResponse } from '../../shared/http/index.ts';
import { sha256 } from '../shared-testnet.ts';
import type { TestnetDescription } from '../../testnet/index.ts';
import { HONEST_ADDRESS, bridgeTarget, type BridgeEndpoint, circuitOptions, sleep, testnetTarget, tlsChannel, webSocketChannel, within } from './peer.ts';

/**
 * The honest client of the hostile tests: from its own address (HONEST_ADDRESS), a new link and a new circuit for every
 * download (the "next comer" an attacker must not lock out), 1 MiB from the private network's web
 * server, checked against its known SHA-256.
 *
 * - `entry`: the bridge is the first hop, over WebSocket, as for a browser:
 *   bridge → test005r → test006e → web server.
 * - `exit`: the bridge is the exit, behind a tor guard that extends to it:
 *   test004r → bridge → web server.
 */

export type HonestRoute = 'entry' | 'exit';

export const HONEST_PATH = '/bytes/1m';

export interface HonestResult {
  /** From the first attempt's start to a verified body. */
  readonly ms: number;
  readonly attempts: number;
  /** Why earlier attempts failed, if any did. */
  readonly failures: readonly string[];
}

async function attempt(desc: TestnetDescription, relay: BridgeEndpoint, route: HonestRoute): Promise<void> {
  let channel: Channel;
  let circuit: Circuit;
  if (route === 'entry') {
    channel = await webSocketChannel(relay, HONEST_ADDRESS);
    circuit = await Circuit.create(channel, bridgeTarget(relay), circuitOptions);
    await circuit.extend(testnetTarget(desc, 'test005r'));
    await circuit.extend(testnetTarget(desc, 'test006e'));
  } else {
    const guard = testnetTarget(desc, 'test004r');
    channel = await tlsChannel(guard.ipv4!.port, desc.relays.find((r) => r.nickname === 'test004r')!.fingerprint, HONEST_ADDRESS);
    circuit = await Circuit.create(channel, guard, circuitOptions);
    await circuit.extend(bridgeTarget(relay));
  }
  try {
    const stream = await circuit.openStream(desc.web.address, desc.web.port, { timeoutMs: 30_000 });
    await stream.write(new TextEncoder().encode(`GET ${HONEST_PATH} HTTP/1.0\r\nHost: ${desc.web.address}\r\n\r\n`));
    const { status, body } = await readResponse(stream);
    if (status !== 200) throw new Error(`HTTP ${status}`);
    const digest = sha256(body);
    if (digest !== desc.web.paths[HONEST_PATH].sha256) throw new Error(`1 MiB body has SHA-256 ${digest} (${body.length} bytes), not the web server's`);
  } finally {
    circuit.destroy();
    channel.close();
  }
}

/**
 * One honest 1 MiB download along `route`; up to `attempts` tries (a real client retries a failed
 * circuit) within `timeoutMs` overall. Throws with every failure's reason when none succeeded.
 */
export async function honestDownload(desc: TestnetDescription, relay: BridgeEndpoint, route: HonestRoute, opts: { attempts?: number; timeoutMs?: number } = {}): Promise<HonestResult> {
  const maxAttempts = opts.attempts ?? 3;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const failures: string[] = [];
  const t0 = performance.now();
  for (let i = 1; i <= maxAttempts; i++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      await within(attempt(desc, relay, route), left, `honest download (${route}) attempt ${i}`);
      return { ms: performance.now() - t0, attempts: i, failures };
    } catch (e) {
      failures.push(e instanceof Error ? e.message : String(e));
      await sleep(500);
    }
  }
  throw new Error(`honest 1 MiB download (${route}) failed ${failures.length} times: ${failures.join(' | ')}`);
}

/** Until the bridge can extend (it bootstraps its directory in the background after starting). */
export async function waitUntilUsable(desc: TestnetDescription, relay: BridgeEndpoint, route: HonestRoute, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      await honestDownload(desc, relay, route, { attempts: 1, timeoutMs: 30_000 });
      return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
      await sleep(1000);
    }
  }
  throw new Error(`the bridge did not carry an honest download (${route}) within ${timeoutMs} ms: ${last}`);
}
