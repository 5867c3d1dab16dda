import type { TestnetDescription } from '../../testnet/index.ts';
import { ATTACKS, type AttackName } from './attacks/index.ts';
import type { Attack } from './harness.ts';
import type { BridgeEndpoint } from './peer.ts';
import { encodeReport } from './report-codec.ts';

/**
 * An attacker as a process of its own (forked by harness.ts with tsx): it says 'ready', takes the
 * attack to run, runs it until told 'stop' (or until its parent goes away), sends its report and
 * exits. In its own process the attacker's busy loops load the relay and the machine, as a remote
 * attacker would, without stalling the honest client's event loop in the test process.
 */

export interface AttackerStart {
  readonly name: AttackName;
  readonly options: unknown;
  readonly desc: TestnetDescription;
  readonly relay: BridgeEndpoint;
  readonly address: string;
}

export type AttackerMessage = 'ready' | { readonly report: unknown } | { readonly error: string };

const send = (m: AttackerMessage, then: () => void) => process.send!(m, undefined, {}, then);

const controller = new AbortController();
process.on('message', (m: unknown) => {
  if (m === 'stop') controller.abort();
});
// The test process went away: stop, and do not outlive it.
process.on('disconnect', () => {
  controller.abort();
  setTimeout(() => process.exit(3), 5000).unref();
});
process.once('message', (m: unknown) => {
  if (m === 'stop' || typeof m !== 'object' || m === null) return;
  const start = m as AttackerStart;
  const run = (ATTACKS[start.name] as (o: unknown) => Attack)(start.options);
  run({ desc: start.desc, relay: start.relay, address: start.address, signal: controller.signal }).then(
    (report) => send({ report: encodeReport(report) }, () => process.exit(0)),
    (e: unknown) => send({ error: e instanceof Error ? e.stack ?? e.message : String(e) }, () => process.exit(1)),
  );
});
send('ready', () => {});
