import * as net from 'node:net';
import { Circuit } from '../../../shared/circuit/index.ts';
import type { Channel } from '../../../shared/channel/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel } from '../outcomes.ts';
import { bridgeTarget, circuitOptions, sleep, testnetTarget, tlsChannel } from '../peer.ts';

/**
 * Attack 1, exit TCP reset: a destination that accepts the exit's connection and then resets it
 * (RST), as ordinary web servers do under load. The attacker reaches it through the bridge as
 * exit, behind a tor guard (test003r → bridge), and keeps opening streams to it: some reset as
 * soon as they are accepted, some once the request arrived. Only those streams may end; the relay
 * and every other circuit must carry on.
 */

export interface ResettingServer {
  readonly port: number;
  /** Connections it accepted and reset. */
  readonly resets: () => number;
  close(): Promise<void>;
}

/** A loopback TCP server that resets every connection: every other one at once, the rest after the first bytes. */
export async function startResettingServer(): Promise<ResettingServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Our side of a reset connection has nothing to report.
    socket.on('error', () => {});
    const n = accepted++;
    if (n % 2 === 0) setTimeout(() => socket.resetAndDestroy(), 20);
    else socket.once('data', () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', () => resolve()); });
  return {
    port: (server.address() as net.AddressInfo).port,
    resets: () => accepted,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export interface ExitResetReport extends AttackReport {
  readonly streams: Tally;
  readonly circuits: Tally;
}

/** `port`: the resetting server's (it lives in the test process; the attacker only reaches it). */
export function exitReset(opts: { port: number; parallel?: number; maxStreams?: number }): Attack<ExitResetReport> {
  return async ({ desc, relay, address, signal }) => {
    const streams = new Tally();
    const circuits = new Tally();
    const guardInfo = desc.relays.find((r) => r.nickname === 'test003r')!;
    const guard = testnetTarget(desc, 'test003r');
    let channel: Channel | undefined;
    let opened = 0;
    const maxStreams = opts.maxStreams ?? 400;
    let failuresInARow = 0;
    while (!signal.aborted && opened < maxStreams && failuresInARow < 10) {
      let circuit: Circuit;
      try {
        if (!channel?.isOpen) channel = await tlsChannel(guardInfo.orPort, guardInfo.fingerprint, address);
        circuit = await Circuit.create(channel, guard, circuitOptions);
        await circuit.extend(bridgeTarget(relay));
        circuits.add('built');
      } catch (e) {
        circuits.add(failureLabel(e));
        failuresInARow++;
        await sleep(300);
        continue;
      }
      failuresInARow = 0;
      // Streams on this circuit until it breaks, a few at a time.
      while (!signal.aborted && circuit.isOpen && opened < maxStreams) {
        const batch = Array.from({ length: opts.parallel ?? 4 }, async () => {
          opened++;
          try {
            const stream = await circuit.openStream('127.0.0.1', opts.port, { timeoutMs: 10_000 });
            streams.add('CONNECTED');
            // The server may reset before the request is out: then the write fails, as it should.
            const wrote = await stream.write(new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n')).then(() => '', (e: unknown) => `write: ${failureLabel(e)}, `);
            const reply = wrote + await stream.readAll().then(() => 'ended cleanly', failureLabel);
            streams.add(`then ${reply}`);
          } catch (e) {
            streams.add(failureLabel(e));
          }
        });
        await Promise.all(batch);
      }
      if (!circuit.isOpen) circuits.add('lost');
      circuit.destroy();
    }
    channel?.close();
    return { summary: `${opened} streams to a server that resets, through test003r → bridge: ${streams}; circuits: ${circuits}`, streams, circuits };
  };
}
