import type { Circuit } from '../circuit/index.ts';
import { RelayCmd, type RelayMsg } from '../cells/index.ts';
import { TimeoutError, type TelescopeError } from '../util/index.ts';

/**
 * Onion-service cells arrive on a circuit as circuit-level relay messages (stream 0) from its last
 * hop. This gives each one a promise: `expect()` before sending what provokes the answer (a
 * RENDEZVOUS2 may arrive before the INTRODUCE_ACK that precedes it is even read), and `next()` to
 * take messages of a kind as they come (INTRODUCE2 on a service's introduction circuit).
 */
export class CircuitMessages {
  private readonly waiters = new Map<number, { resolve: (m: RelayMsg) => void; reject: (e: TelescopeError) => void }>();
  private readonly early = new Map<number, RelayMsg[]>();
  private readonly handlers = new Map<number, (m: RelayMsg) => void>();
  private closed: TelescopeError | undefined;

  constructor(readonly circuit: Circuit, private readonly hop: number) {
    circuit.onControlMessage = (hop, msg) => this.receive(hop, msg);
    circuit.onClose((e) => {
      this.closed = e;
      for (const w of this.waiters.values()) w.reject(e);
      this.waiters.clear();
    });
  }

  private receive(hop: number, msg: RelayMsg): void {
    if (hop !== this.hop) return; // only the relay in its onion-service role speaks this protocol here
    const handler = this.handlers.get(msg.command);
    if (handler) {
      handler(msg);
      return;
    }
    const w = this.waiters.get(msg.command);
    if (w) {
      this.waiters.delete(msg.command);
      w.resolve(msg);
      return;
    }
    const queued = this.early.get(msg.command) ?? [];
    if (queued.length < 4) queued.push(msg);
    this.early.set(msg.command, queued);
  }

  /** The next message with `command`, within `ms`; the circuit is destroyed if none comes. */
  expect<T extends RelayMsg>(command: number, ms: number): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const queued = this.early.get(command)?.shift();
    if (queued) return Promise.resolve(queued as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(command);
        this.circuit.destroy(undefined, `no ${RelayCmd.nameOf(command)} in ${ms} ms`);
        reject(new TimeoutError(`circuit ${this.circuit.id}: no ${RelayCmd.nameOf(command)} in ${ms} ms`));
      }, ms);
      this.waiters.set(command, {
        resolve: (m) => { clearTimeout(timer); resolve(m as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  /** Call `handler` for every message with `command` from now on. */
  on(command: number, handler: (m: RelayMsg) => void): void {
    this.handlers.set(command, handler);
    for (const m of this.early.get(command)?.splice(0) ?? []) handler(m);
  }
}
