import { Circuit, type CircuitOptions } from '../circuit/index.ts';
import { CircuitError, TelescopeError, silentLogger, type Logger } from '../util/index.ts';
import { chooseRendezvousPoint, choosePath, NoPathError, type GuardManager, type PathRules } from '../path/index.ts';
import { describeRelay, relayTarget, type NetDir, type NetRelay } from '../netdir/index.ts';
import type { ChannelPool } from './channel-pool.ts';

/**
 * Circuits for streams (path-spec "When we build", "Stream isolation"): circuits are built ahead of
 * need, handed to streams whose exit port the circuit's exit allows and whose isolation key matches
 * (a circuit takes the key of its first stream; streams with different keys never share one),
 * reused for up to `maxDirtinessMs` after first use and then retired, closing once their last
 * stream ends. A failed build is retried on a fresh path without the caller noticing.
 */

/** How long a relay that failed a circuit build is left out of new paths. */
const FAILED_RELAY_PENALTY_MS = 2 * 60_000;

export interface ManagedCircuit {
  readonly circuit: Circuit;
  readonly path: readonly NetRelay[];
  /** Isolation key of the streams it carries; undefined while clean. */
  isolationKey: string | undefined;
  /**
   * 'exit' circuits carry streams to the Internet; 'onion' circuits end at a relay chosen for an
   * onion-service role (HSDir, introduction or rendezvous point) and never carry exit streams.
   */
  readonly purpose: 'exit' | 'onion';
}

interface BuildSpec {
  readonly hops: number;
  readonly port?: number;
  readonly onion?: boolean;
  readonly last?: NetRelay;
  /** Fingerprints to leave out of this path (not the guard: guards are chosen by the guard manager). */
  readonly avoid?: ReadonlySet<string>;
}

export interface CircuitManagerOptions {
  readonly log?: Logger;
  readonly rules: PathRules;
  readonly circuitOptions?: CircuitOptions;
  /** tor's MaxCircuitDirtiness: 10 minutes. */
  readonly maxDirtinessMs?: number;
  /** Clean circuits kept ready (tor keeps a few for its predicted ports). */
  readonly preemptive?: number;
  readonly buildAttempts?: number;
  /** Ports the preemptive circuits' exits must allow. */
  readonly predictedPorts?: readonly number[];
}

export class CircuitManager {
  private readonly circuits: ManagedCircuit[] = [];
  private building = 0;
  private preemptive: number;
  /** Relays that failed a build recently (fingerprint → when), left out of new paths for a while. */
  private readonly recentlyFailed = new Map<string, number>();
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(
    private readonly pool: ChannelPool,
    private readonly guards: GuardManager,
    private readonly netDir: () => NetDir,
    private readonly opts: CircuitManagerOptions,
  ) {
    this.preemptive = opts.preemptive ?? 2;
    this.timer = setInterval(() => this.maintain(), 5_000);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private get maxDirtinessMs(): number {
    return this.opts.maxDirtinessMs ?? 10 * 60_000;
  }

  /** Whether the manager was closed (the client is shutting down): nothing more gets built. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Circuits currently open, for status displays. */
  get open(): readonly ManagedCircuit[] {
    return this.circuits.filter((c) => c.circuit.isOpen);
  }

  private usable(c: ManagedCircuit, port: number | undefined, isolationKey: string): boolean {
    // A circuit that lost hops (TRUNCATED from the network) no longer reaches its exit.
    if (c.purpose !== 'exit' || !c.circuit.isOpen || c.path.length < 3 || c.circuit.length !== c.path.length) return false;
    if (c.isolationKey !== undefined && c.isolationKey !== isolationKey) return false;
    const first = c.circuit.firstUsedAt;
    if (first !== undefined && Date.now() - first > this.maxDirtinessMs) return false;
    const exit = c.path[c.path.length - 1]!;
    return port === undefined || exit.exitPolicy.allowsPort(port);
  }

  /**
   * A circuit for a stream to `port` under `isolationKey`: an existing one if it fits, else a new
   * one. The circuit is claimed for the key before it is returned.
   */
  async get(port: number | undefined, isolationKey: string, exclude: ReadonlySet<Circuit> = new Set()): Promise<ManagedCircuit> {
    // After "new circuit for this site", a ready circuit through the dropped one's relays will not do.
    const avoid = this.avoidFor.get(isolationKey);
    const fits = (c: ManagedCircuit) => !exclude.has(c.circuit) && this.usable(c, port, isolationKey) && !(avoid && c.path.slice(1).some((r) => avoid.has(r.fingerprint)));
    const found = this.circuits.find((c) => c.isolationKey === isolationKey && fits(c)) ?? this.circuits.find(fits);
    if (found) this.avoidFor.delete(isolationKey);
    const chosen = found ?? (await this.buildFresh(port, isolationKey));
    chosen.isolationKey = isolationKey;
    queueMicrotask(() => this.maintain());
    return chosen;
  }

  /**
   * A circuit for a key whose circuits were just dropped ("new circuit for this site"): it leaves
   * out the relays after the guard of the dropped one, so the site really sees a new exit and middle
   * (when the network has others to offer).
   */
  private async buildFresh(port: number | undefined, isolationKey: string): Promise<ManagedCircuit> {
    const avoid = this.avoidFor.get(isolationKey);
    this.avoidFor.delete(isolationKey);
    if (!avoid) return this.build(port);
    try {
      return await this.buildWithRetries({ hops: 3, avoid, ...(port === undefined ? {} : { port }) }, ' avoiding the previous circuit');
    } catch (e) {
      if (!(e instanceof NoPathError)) throw e;
      return this.build(port);
    }
  }

  /** Relays to leave out of the next circuit of a key, by key (see dropIsolation). */
  private readonly avoidFor = new Map<string, ReadonlySet<string>>();

  /** Build a fresh 3-hop circuit whose exit allows `port`, trying fresh paths on failure. */
  build(port?: number, hops = 3): Promise<ManagedCircuit> {
    return this.buildWithRetries({ hops, ...(port === undefined ? {} : { port }) }, port === undefined ? '' : ` for port ${port}`);
  }

  /**
   * An onion-service circuit: guard, middle, and `last` (an HSDir or introduction point; a
   * rendezvous point, HSRend=2, when not given). It carries no exit
   * streams and is closed by its user. Retries fresh guard/middle on failure, keeping `last`.
   */
  buildOnion(last?: NetRelay): Promise<ManagedCircuit> {
    return this.buildWithRetries({ hops: 3, onion: true, ...(last ? { last } : {}) }, last ? ` to ${describeRelay(last)}` : '');
  }

  private async buildWithRetries(spec: BuildSpec, what: string): Promise<ManagedCircuit> {
    const attempts = this.opts.buildAttempts ?? 4;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      if (this.closed) throw new CircuitError('client is shutting down');
      try {
        return await this.buildOnce(spec);
      } catch (e) {
        if (!(e instanceof TelescopeError)) throw e;
        if (e instanceof NoPathError) throw e;
        last = e;
        this.log.info(`circuit build attempt ${i + 1}/${attempts} failed: ${e.message}`);
      }
    }
    throw new CircuitError(`could not build a circuit${what} in ${attempts} attempts: ${last instanceof Error ? last.message : String(last)}`, undefined, { cause: last });
  }

  private async buildOnce(spec: BuildSpec): Promise<ManagedCircuit> {
    const dir = this.netDir();
    // A relay cannot be both ends of a circuit: a fixed last hop that is one of our guards is
    // reached through another guard.
    const guard = await this.guards.pick(dir, spec.last ? [spec.last.fingerprint] : []);
    const now = Date.now();
    for (const [fp, at] of this.recentlyFailed) if (now - at > FAILED_RELAY_PENALTY_MS) this.recentlyFailed.delete(fp);
    const opts = { rules: this.opts.rules, hops: spec.hops, exclude: new Set([...this.recentlyFailed.keys(), ...(spec.avoid ?? [])]) };
    // An onion circuit's last hop is not an exit: without a given one it is a rendezvous point.
    const last = spec.onion ? spec.last ?? chooseRendezvousPoint(dir, { ...opts, avoid: [guard] }) : undefined;
    const path = choosePath(dir, guard, { ...opts, ...(spec.port === undefined ? {} : { port: spec.port }), ...(last ? { exit: last } : {}) });
    this.building++;
    let circuit: Circuit | undefined;
    try {
      let channel;
      try {
        channel = await this.pool.get(relayTarget(guard));
      } catch (e) {
        await this.guards.failed(guard.fingerprint);
        throw e;
      }
      circuit = await Circuit.create(channel, relayTarget(guard), this.opts.circuitOptions);
      await this.guards.succeeded(guard.fingerprint);
      for (const relay of path.slice(1)) {
        try {
          await circuit.extend(relayTarget(relay));
        } catch (e) {
          // The relay we were extending to is the likeliest culprit: leave it out for a while.
          this.recentlyFailed.set(relay.fingerprint, Date.now());
          throw e;
        }
      }
    } catch (e) {
      circuit?.destroy();
      throw e;
    } finally {
      this.building--;
    }
    this.log.info(`built circuit ${circuit.id}: ${path.map(describeRelay).join(' → ')}`);
    const managed: ManagedCircuit = { circuit, path, isolationKey: undefined, purpose: spec.onion ? 'onion' : 'exit' };
    this.circuits.push(managed);
    circuit.onClose(() => {
      const i = this.circuits.indexOf(managed);
      if (i >= 0) this.circuits.splice(i, 1);
    });
    return managed;
  }

  /** A one-hop circuit to `relay` for directory requests (BEGIN_DIR). Not shared with streams. */
  async buildDirCircuit(relay: NetRelay): Promise<Circuit> {
    const channel = await this.pool.get(relayTarget(relay));
    return Circuit.create(channel, relayTarget(relay), this.opts.circuitOptions);
  }

  /** Retire old circuits and keep clean ones ready. */
  maintain(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const c of [...this.circuits]) {
      // (An onion circuit may be longer than its path: the rendezvous adds a virtual hop.)
      if (c.purpose === 'exit' && c.circuit.isOpen && c.circuit.length !== c.path.length) {
        c.circuit.destroy();
        continue;
      }
      const first = c.circuit.firstUsedAt;
      if (first !== undefined && now - first > this.maxDirtinessMs && c.circuit.openStreams === 0) {
        this.log.info(`retiring circuit ${c.circuit.id}: used for more than ${Math.round(this.maxDirtinessMs / 60000)} minutes`);
        c.circuit.destroy();
      }
    }
    const clean = this.circuits.filter((c) => c.purpose === 'exit' && c.circuit.isOpen && c.isolationKey === undefined).length;
    const want = this.preemptive;
    const ports = this.opts.predictedPorts ?? [80, 443];
    for (let i = clean + this.building; i < want; i++) {
      const port = ports[i % ports.length];
      this.build(port).catch((e: unknown) => this.log.info(`preemptive circuit failed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  /** The open circuits carrying streams of `isolationKey` (newest first). */
  forIsolation(isolationKey: string): ManagedCircuit[] {
    return this.circuits.filter((c) => c.circuit.isOpen && c.isolationKey === isolationKey).reverse();
  }

  /** "New circuit for this site": its circuits take no new streams and close. */
  dropIsolation(isolationKey: string): void {
    const dropped = this.forIsolation(isolationKey);
    const [latest] = dropped;
    if (latest) this.avoidFor.set(isolationKey, new Set(latest.path.slice(1).map((r) => r.fingerprint)));
    for (const c of dropped) c.circuit.destroy();
  }

  /** Keep `count` clean circuits ready from now on. */
  maintainPreemptive(count: number): void {
    this.preemptive = count;
    this.maintain();
  }

  /** Drop every circuit (new identity) so later streams get fresh ones. */
  dropAll(): void {
    for (const c of [...this.circuits]) c.circuit.destroy();
    this.circuits.length = 0;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.dropAll();
  }
}
