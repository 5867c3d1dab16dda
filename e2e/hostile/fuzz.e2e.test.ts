import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from '../../testnet/relay-process.ts';
import { sharedTestnet } from '../shared-testnet.ts';
import type { TestnetDescription } from '../../testnet/index.ts';
import { captureClientHello, fuzzListener, type FuzzTarget } from './fuzz.ts';
import { relayTail, unexpectedErrors } from './harness.ts';
import { honestDownload, waitUntilUsable } from './honest.ts';
import { attackerAddress, bridgeEndpoint, processAlive } from './peer.ts';

/**
 * The fuzz run of issue 11: random and mutated cells, WebSocket frames, HTTP upgrade requests and
 * TLS records against both listeners of a relay-bridge, for a bounded time each; then a normal
 * client still downloads 1 MiB through it, the process lives, its safety net caught nothing, and
 * its memory before and after is printed. The seed is printed; HOSTILE_FUZZ_SEED=N replays it.
 */

const SEED = process.env.HOSTILE_FUZZ_SEED !== undefined ? Number(process.env.HOSTILE_FUZZ_SEED) : randomInt(2 ** 31);
/** Seconds per listener (HOSTILE_FUZZ_SECONDS to fuzz longer by hand). */
const SECONDS = Number(process.env.HOSTILE_FUZZ_SECONDS ?? 20);
const ADDRESSES = Array.from({ length: 120 }, (_, i) => attackerAddress(30 + i));

let desc: TestnetDescription;
let relay: RelayProcess;
let clientHello: Uint8Array;

beforeAll(async () => {
  desc = sharedTestnet();
  clientHello = await captureClientHello();
  relay = await startRelayProcess(desc, ['BridgeRelay 1', 'PublishServerDescriptor 0', 'ExitRelay 0'], 'hostilefuzz');
  await waitUntilUsable(desc, relay, 'entry').catch((e: unknown) => { throw new Error(`${String(e)}\n${relayTail(relay)}`); });
}, 150_000);

afterAll(async () => {
  await relay?.stop();
});

describe(`fuzzing both listeners (seed ${SEED}; replay with HOSTILE_FUZZ_SEED=${SEED})`, () => {
  for (const listener of ['websocket', 'orport'] as const) {
    it(`${listener === 'websocket' ? 'WebSocketPort' : 'ORPort'}: ${SECONDS} s of broken input, then a normal client works`, async () => {
      expect(Number.isInteger(SEED), `HOSTILE_FUZZ_SEED must be an integer, not ${process.env.HOSTILE_FUZZ_SEED}`).toBe(true);
      const target: FuzzTarget = { relay: bridgeEndpoint(relay), listener, clientHello };
      const seed = listener === 'websocket' ? SEED : SEED + 1000;
      const rssBefore = relay.rssKiB();
      const unexpectedBefore = unexpectedErrors(relay);
      const result = await fuzzListener(target, seed, SECONDS * 1000, ADDRESSES);
      const alive = processAlive(relay.pid);
      console.log(`fuzz ${listener} (seed ${seed}): ${result.cases.total} cases run: ${result.cases}`
        + `\n  cut short (the relay closed or refused first): ${result.refused.total}: ${result.refused}`);
      expect(alive, `the relay process exited while fuzzed (seed ${seed})\n${relayTail(relay)}`).toBe(true);
      expect(result.cases.total, `hardly any case ran (seed ${seed}): ${result.refused}`).toBeGreaterThan(SECONDS);
      const honest = await honestDownload(desc, relay, 'entry');
      const rssAfter = relay.rssKiB();
      console.log(`fuzz ${listener}: relay RSS ${Math.round(rssBefore / 1024)} MiB before, ${Math.round(rssAfter / 1024)} MiB after; then an honest 1 MiB download in ${(honest.ms / 1000).toFixed(2)} s`);
      expect(unexpectedErrors(relay) - unexpectedBefore, `the relay's safety net caught errors while fuzzed (seed ${seed})\n${relayTail(relay)}`).toBe(0);
      expect(relay.output(), `seed ${seed}`).not.toMatch(/Uncaught|unhandled/i);
    }, 120_000);
  }
});
