import { randomBytes } from 'node:crypto';
import { Circuit } from '../../../shared/circuit/index.ts';
import type { Channel } from '../../../shared/channel/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel, tryBegin, tryResolve } from '../outcomes.ts';
import { bridgeTarget, circuitOptions, sleep, testnetTarget, tlsChannel, webSocketChannel } from '../peer.ts';

/**
 * Attack 7, exit hygiene, through test003r → bridge (the bridge as exit, behind a relay it knows):
 * - network re-entry: BEGIN to the ORPorts of the network's relays and to the bridge's own ORPort
 *   and WebSocket port (tor refuses connections back into the network);
 * - a burst of DNS lookups of distinct names (RESOLVE and BEGIN), many at once, to exhaust the
 *   exit's resolver;
 * - EXTEND2 to the bridge itself (a browser's circuit: bridge → bridge) and back to the previous
 *   hop (test003r → bridge → test003r).
 * Round after round until stopped.
 */

export interface ExitHygieneReport extends AttackReport {
  /** "test004r ORPort" → what BEGIN got. */
  readonly reentry: ReadonlyMap<string, Tally>;
  readonly dnsResolve: Tally;
  readonly dnsBegin: Tally;
  readonly extendToItself: Tally;
  readonly extendBack: Tally;
  readonly circuits: Tally;
}

export function exitHygiene(opts: { dnsPerRound?: number; maxRounds?: number } = {}): Attack<ExitHygieneReport> {
  return async ({ desc, relay, address, signal }) => {
    const guardInfo = desc.relays.find((r) => r.nickname === 'test003r')!;
    const guard = testnetTarget(desc, 'test003r');
    const bridge = bridgeTarget(relay);
    const reentryTargets: [string, number][] = [
      ...desc.relays.filter((r) => r.nickname !== 'test003r').slice(0, 3).map((r) => [`${r.nickname} ORPort`, r.orPort] as [string, number]),
      ['the bridge\'s own ORPort', relay.orPort],
      ['the bridge\'s own WebSocket port', relay.webSocketPort],
    ];
    const reentry = new Map(reentryTargets.map(([name]) => [name, new Tally()]));
    const report = { dnsResolve: new Tally(), dnsBegin: new Tally(), extendToItself: new Tally(), extendBack: new Tally(), circuits: new Tally() };
    let guardChannel: Channel | undefined;
    const viaGuard = async (): Promise<Circuit> => {
      if (!guardChannel?.isOpen) guardChannel = await tlsChannel(guardInfo.orPort, guardInfo.fingerprint, address);
      const c = await Circuit.create(guardChannel, guard, circuitOptions);
      await c.extend(bridge);
      return c;
    };
    const dnsPerRound = opts.dnsPerRound ?? 200;
    let rounds = 0;
    let names = 0;
    while (!signal.aborted && rounds < (opts.maxRounds ?? 20)) {
      rounds++;
      let circuit: Circuit;
      try {
        circuit = await viaGuard();
        report.circuits.add('built');
      } catch (e) {
        report.circuits.add(failureLabel(e));
        await sleep(500);
        continue;
      }
      // Re-entry into the network, one of each.
      for (const [name, port] of reentryTargets) {
        if (!circuit.isOpen) break;
        reentry.get(name)!.add(await tryBegin(circuit, '127.0.0.1', port, { timeoutMs: 10_000 }));
      }
      // DNS: distinct names, all at once, half RESOLVE and half BEGIN.
      const burst = Array.from({ length: dnsPerRound }, (_, i) => {
        const name = `n${randomBytes(6).toString('hex')}.hostile.invalid`;
        names++;
        return i % 2 === 0
          ? tryResolve(circuit, name, { timeoutMs: 20_000 }).then((l) => report.dnsResolve.add(l.startsWith('RESOLVED error') ? 'RESOLVED error' : l))
          : tryBegin(circuit, name, 80, { timeoutMs: 20_000 }).then((l) => report.dnsBegin.add(l));
      });
      await Promise.all(burst);
      circuit.destroy();
      // EXTEND2 back to the previous hop.
      try {
        if (!guardChannel?.isOpen) guardChannel = await tlsChannel(guardInfo.orPort, guardInfo.fingerprint, address);
        const c = await Circuit.create(guardChannel, guard, circuitOptions);
        try {
          await c.extend(bridge);
          await c.extend(guard);
          report.extendBack.add('EXTENDED');
        } catch (e) {
          report.extendBack.add(failureLabel(e));
        } finally {
          c.destroy();
        }
      } catch (e) {
        report.circuits.add(failureLabel(e));
      }
      // EXTEND2 from the bridge to itself, on a browser's circuit.
      let ws: Channel | undefined;
      try {
        ws = await webSocketChannel(relay, address);
        const c = await Circuit.create(ws, bridge, circuitOptions);
        try {
          await c.extend(bridge);
          report.extendToItself.add('EXTENDED');
        } catch (e) {
          report.extendToItself.add(failureLabel(e));
        } finally {
          c.destroy();
        }
      } catch (e) {
        report.circuits.add(`WebSocket: ${failureLabel(e)}`);
      } finally {
        ws?.close();
      }
    }
    guardChannel?.close();
    const reentryText = [...reentry].map(([name, t]) => `${name} → ${t}`).join('; ');
    return {
      ...report,
      reentry,
      summary: `${rounds} rounds. BEGIN back into the network: ${reentryText}. ${names} distinct names: RESOLVE → ${report.dnsResolve}; BEGIN → ${report.dnsBegin}. `
        + `EXTEND2 to itself → ${report.extendToItself}; EXTEND2 back to the previous hop → ${report.extendBack}. Circuits: ${report.circuits}`,
    };
  };
}
