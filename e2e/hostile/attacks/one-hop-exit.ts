import { Circuit } from '../../../shared/circuit/index.ts';
import type { Channel } from '../../../shared/channel/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel, tryBegin, tryResolve } from '../outcomes.ts';
import { ThrowawayRelay, bridgeTarget, circuitOptions, sleep, tlsChannel, webSocketChannel } from '../peer.ts';

/**
 * Attack 2, one-hop exit: a circuit of one hop to the bridge, asking it to exit.
 * - A browser-like client over WebSocket sends BEGIN (to the web server) and RESOLVE "localhost".
 * - A client with throwaway relay keys, over TLS, AUTHENTICATEs as a relay (one no consensus lists)
 *   and sends BEGIN and RESOLVE.
 * tor refuses both unless the previous hop is a relay in its consensus; a bridge that answered
 * would be a plain proxy, and RESOLVE of "localhost" a DNS oracle into the operator's network.
 * Round after round until stopped, so the honest download runs while it goes on.
 */

export interface OneHopReport extends AttackReport {
  readonly webSocketBegin: Tally;
  readonly webSocketResolve: Tally;
  readonly authenticatedBegin: Tally;
  readonly authenticatedResolve: Tally;
  readonly links: Tally;
}

export function oneHopExit(opts: { maxRounds?: number } = {}): Attack<OneHopReport> {
  return async ({ desc, relay, address, signal }) => {
    const report: OneHopReport = {
      summary: '',
      webSocketBegin: new Tally(),
      webSocketResolve: new Tally(),
      authenticatedBegin: new Tally(),
      authenticatedResolve: new Tally(),
      links: new Tally(),
    };
    const throwaway = ThrowawayRelay.create();
    const target = bridgeTarget(relay);
    const probe = async (open: () => Promise<Channel>, begins: Tally, resolves: Tally, kind: string) => {
      let channel: Channel | undefined;
      try {
        channel = await open();
        report.links.add(`${kind} open`);
        const circuit = await Circuit.create(channel, target, circuitOptions);
        begins.add(await tryBegin(circuit, desc.web.address, desc.web.port, { timeoutMs: 10_000 }));
        if (circuit.isOpen) resolves.add(await tryResolve(circuit, 'localhost', { timeoutMs: 10_000 }));
        circuit.destroy();
      } catch (e) {
        report.links.add(`${kind}: ${failureLabel(e)}`);
      } finally {
        channel?.close();
      }
    };
    let rounds = 0;
    while (!signal.aborted && rounds < (opts.maxRounds ?? 40)) {
      rounds++;
      await probe(() => webSocketChannel(relay, address), report.webSocketBegin, report.webSocketResolve, 'WebSocket');
      await probe(() => tlsChannel(relay.orPort, relay.fingerprint, address, throwaway), report.authenticatedBegin, report.authenticatedResolve, 'TLS authenticated');
      await sleep(100);
    }
    return {
      ...report,
      summary: `${rounds} rounds. WebSocket one hop: BEGIN → ${report.webSocketBegin}; RESOLVE localhost → ${report.webSocketResolve}. `
        + `TLS authenticated with throwaway keys ${throwaway.fingerprint.slice(0, 8)}: BEGIN → ${report.authenticatedBegin}; RESOLVE localhost → ${report.authenticatedResolve}. Links: ${report.links}`,
    };
  };
}
