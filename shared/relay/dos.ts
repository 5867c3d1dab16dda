/**
 * The relay's denial-of-service defences, after tor's (src/core/or/dos.c; the parameters are
 * tor's consensus parameters and torrc options of the same names, see param-spec). Two
 * per-address defences:
 *
 * - connections: at most `DoSConnectionMaxConcurrentCount` open at once from one address, and a
 *   token bucket over connection attempts (`DoSConnectionConnectRate` per second, up to
 *   `DoSConnectionConnectBurst`); an address that empties the bucket is marked, and its new
 *   connections are refused for `DoSConnectionConnectDefenseTimePeriod` (plus a random part of up
 *   to half of it, so the end cannot be timed);
 * - circuit creation: a token bucket over CREATE cells per address (`DoSCircuitCreationRate` per
 *   second, up to `DoSCircuitCreationBurst`); an address that has emptied it while holding at
 *   least `DoSCircuitCreationMinConnections` connections is marked, and every CREATE from it is
 *   refused (DESTROY RESOURCELIMIT) for `DoSCircuitCreationDefenseTimePeriod` (plus up to half).
 *   While it is marked, its new connections are refused too (see below).
 *
 * Under pressure the abuser's address is refused, never the next comer's: the state is per
 * address. Addresses of relays in the consensus are exempt, as in tor (a relay carries many
 * clients' circuits, and connections back into the network come from relays).
 *
 * Privacy: addresses live in memory only, in this table, and are never logged or described;
 * an entry is forgotten as soon as it holds nothing that forgetting would change (no connection,
 * no mark, full buckets). The table is bounded: when it is full, the least recently seen entry
 * without open connections makes room.
 *
 * Differences from tor, on purpose:
 * - tor's compiled-in default leaves both defences off and lets the consensus turn them on (the
 *   live network's consensus does); a tor bridge, which is not a "public server", ignores the
 *   consensus and stays off unless its torrc says otherwise. A Telescope bridge is exposed to
 *   anyone who has its line, so the defences are on by default, and the consensus parameters
 *   apply to bridges too. The numeric defaults are tor's.
 * - buckets refill continuously from an injected millisecond clock instead of in whole seconds.
 * - at most N concurrent connections are allowed (tor lets the N+1st in, and refuses beyond).
 * - an address marked by the circuit-creation defence (with DefenseType 2) cannot open new
 *   connections while the mark lasts; tor lets them in and refuses their CREATEs one by one. A
 *   connection from a marked address could create no circuit, so no one, not even a client
 *   behind the same NAT address as the abuser, loses anything a connection could have given
 *   them, and refusing it at accept costs less than a TLS or WebSocket handshake followed by
 *   refused cells. Connections already open stay open (their circuits keep working); the switch
 *   closes those that keep creating past their refusals (switch.ts).
 * - the random part of the circuit-creation mark is drawn once when the address is marked;
 *   marking it again (every CREATE over the limit, as in tor) keeps that part, so a flood of
 *   CREATEs does not draw a random number per cell.
 *
 * Pure and portable: the clock and the random source are handed in.
 */
import { UsageError } from '../util/index.ts';

/** The defence's parameters; names follow tor's options (without the `DoS` prefix). */
export interface DosParams {
  readonly circuitCreationEnabled: boolean;
  readonly circuitCreationMinConnections: number;
  /** Circuits per second an address may create once its burst is spent. */
  readonly circuitCreationRate: number;
  readonly circuitCreationBurst: number;
  /** 1: none (count only), 2: refuse CREATE cells from a marked address. */
  readonly circuitCreationDefenseType: 1 | 2;
  /** Seconds a marked address stays marked (before the random part). */
  readonly circuitCreationDefenseTimePeriod: number;
  readonly connectionEnabled: boolean;
  readonly connectionMaxConcurrentCount: number;
  /** 1: none (count only), 2: close (refuse) connections over the limits. */
  readonly connectionDefenseType: 1 | 2;
  readonly connectionConnectRate: number;
  readonly connectionConnectBurst: number;
  readonly connectionConnectDefenseTimePeriod: number;
}

/** One parameter: its consensus/torrc name, tor's default and the range tor clamps it to. */
interface ParamSpec {
  readonly key: keyof DosParams;
  readonly name: string;
  readonly defaultValue: number;
  readonly min: number;
  readonly max: number;
}

const INT32_MAX = 2 ** 31 - 1;

/** tor's defaults and bounds (dos.h, dos.c), except `Enabled` (see the module comment). */
export const DOS_PARAMS: readonly ParamSpec[] = [
  { key: 'circuitCreationEnabled', name: 'DoSCircuitCreationEnabled', defaultValue: 1, min: 0, max: 1 },
  { key: 'circuitCreationMinConnections', name: 'DoSCircuitCreationMinConnections', defaultValue: 3, min: 1, max: INT32_MAX },
  { key: 'circuitCreationRate', name: 'DoSCircuitCreationRate', defaultValue: 3, min: 1, max: INT32_MAX },
  { key: 'circuitCreationBurst', name: 'DoSCircuitCreationBurst', defaultValue: 90, min: 1, max: INT32_MAX },
  { key: 'circuitCreationDefenseType', name: 'DoSCircuitCreationDefenseType', defaultValue: 2, min: 1, max: 2 },
  { key: 'circuitCreationDefenseTimePeriod', name: 'DoSCircuitCreationDefenseTimePeriod', defaultValue: 3600, min: 0, max: INT32_MAX },
  { key: 'connectionEnabled', name: 'DoSConnectionEnabled', defaultValue: 1, min: 0, max: 1 },
  { key: 'connectionMaxConcurrentCount', name: 'DoSConnectionMaxConcurrentCount', defaultValue: 100, min: 1, max: INT32_MAX },
  { key: 'connectionDefenseType', name: 'DoSConnectionDefenseType', defaultValue: 2, min: 1, max: 2 },
  { key: 'connectionConnectRate', name: 'DoSConnectionConnectRate', defaultValue: 20, min: 1, max: INT32_MAX },
  { key: 'connectionConnectBurst', name: 'DoSConnectionConnectBurst', defaultValue: 40, min: 1, max: INT32_MAX },
  { key: 'connectionConnectDefenseTimePeriod', name: 'DoSConnectionConnectDefenseTimePeriod', defaultValue: 24 * 3600, min: 10, max: INT32_MAX },
];

/** Values as the torrc gives them: a number, or undefined for "take the consensus' or the default". */
export type DosOverrides = { readonly [K in keyof DosParams]?: number };

/**
 * The parameters in force: a torrc value wins, then the consensus' `params` (clamped to tor's
 * bounds, as tor's networkstatus_get_param does), then the default.
 */
export function resolveDosParams(consensusParams: ReadonlyMap<string, number> | undefined, overrides: DosOverrides = {}): DosParams {
  const out: Record<string, number | boolean> = {};
  for (const p of DOS_PARAMS) {
    const fromTorrc = overrides[p.key];
    const fromConsensus = consensusParams?.get(p.name);
    let v = fromTorrc ?? fromConsensus ?? p.defaultValue;
    if (!Number.isFinite(v)) v = p.defaultValue;
    v = Math.min(p.max, Math.max(p.min, Math.trunc(v)));
    out[p.key] = p.key === 'circuitCreationEnabled' || p.key === 'connectionEnabled' ? v === 1 : v;
  }
  return out as unknown as DosParams;
}

/** Why a connection was refused. */
export type ConnectionRefusal = 'concurrent-connections' | 'connect-rate' | 'circuit-creation-marked' | 'address-table-full';

/** A connection the guard counts until `release()` (call it once, when the connection closes). */
export interface ConnectionTicket {
  readonly ok: true;
  release(): void;
}

export type ConnectionVerdict = ConnectionTicket | { readonly ok: false; readonly reason: ConnectionRefusal };

export interface DosGuardOptions {
  readonly params: DosParams;
  /** Milliseconds. */
  readonly now?: () => number;
  /** A uniform integer in [0, n). */
  readonly randomInt?: (n: number) => number;
  /** Most addresses tracked at once (default 65536). */
  readonly maxAddresses?: number;
  /** Addresses of relays in the consensus: exempt (tor's nodelist_probably_contains_address). */
  readonly isRelayAddress?: (address: string) => boolean;
}

/** A token bucket in milli-tokens, refilled continuously. */
interface Bucket {
  milli: number;
  at: number;
}

/** What the guard knows about one address. */
interface AddressEntry {
  concurrent: number;
  connect: Bucket;
  connectMarkedUntil: number;
  circuits: Bucket;
  circuitMarkedUntil: number;
  /** The random part of the current circuit-creation mark, in ms (drawn when it is first marked). */
  circuitMarkJitterMs: number;
}

export interface DosStats {
  /** Connections refused for too many at once from one address. */
  concurrentRefused: number;
  /** Connections refused because their address was marked for its connect rate. */
  connectRateRefused: number;
  /** CREATE cells refused because their address was marked. */
  circuitsRefused: number;
  /** Connections refused because their address was marked by the circuit-creation defence. */
  markedConnectionsRefused: number;
  /** Times an address was newly marked by the circuit-creation defence. */
  markedAddresses: number;
}

export class DosGuard {
  private paramsValue: DosParams;
  private readonly now: () => number;
  private readonly randomInt: (n: number) => number;
  private readonly maxAddresses: number;
  private readonly isRelayAddress: (address: string) => boolean;
  /** In least-recently-seen order (an entry is re-inserted when touched). */
  private readonly table = new Map<string, AddressEntry>();
  readonly stats: DosStats = { concurrentRefused: 0, connectRateRefused: 0, circuitsRefused: 0, markedConnectionsRefused: 0, markedAddresses: 0 };

  constructor(opts: DosGuardOptions) {
    this.paramsValue = opts.params;
    this.now = opts.now ?? Date.now;
    this.randomInt = opts.randomInt ?? ((n) => {
      const b = globalThis.crypto.getRandomValues(new Uint32Array(1));
      return b[0]! % n;
    });
    this.maxAddresses = opts.maxAddresses ?? 65536;
    if (!Number.isSafeInteger(this.maxAddresses) || this.maxAddresses < 1) throw new UsageError(`maxAddresses must be a positive integer, not ${this.maxAddresses}`);
    this.isRelayAddress = opts.isRelayAddress ?? (() => false);
  }

  get params(): DosParams {
    return this.paramsValue;
  }

  /** New parameters (a new consensus, a reloaded torrc); buckets keep their levels, capped. */
  setParams(params: DosParams): void {
    this.paramsValue = params;
  }

  /** Addresses tracked right now. */
  get trackedAddresses(): number {
    return this.table.size;
  }

  /**
   * A connection from `address` arrives. Refused when the address is marked for its connect rate
   * or by the circuit-creation defence, or already has the most concurrent connections allowed;
   * otherwise counted until released.
   * The connection that empties the connect bucket is let in; the address is marked and the
   * following ones are refused.
   */
  admitConnection(address: string): ConnectionVerdict {
    const p = this.paramsValue;
    if (!p.connectionEnabled && !p.circuitCreationEnabled) return NOT_COUNTED;
    if (this.isRelayAddress(address)) return NOT_COUNTED;
    const now = this.now();
    const entry = this.entryFor(address, now);
    if (!entry) return { ok: false, reason: 'address-table-full' };
    // Its CREATEs would all be refused: the connection is worth nothing to anyone (module comment).
    if (p.circuitCreationEnabled && p.circuitCreationDefenseType === 2 && entry.circuitMarkedUntil >= now) {
      this.stats.markedConnectionsRefused++;
      return { ok: false, reason: 'circuit-creation-marked' };
    }
    if (p.connectionEnabled) {
      const refuse = p.connectionDefenseType === 2;
      if (entry.connectMarkedUntil >= now) {
        this.stats.connectRateRefused++;
        if (refuse) return { ok: false, reason: 'connect-rate' };
      } else {
        // Expired: the address may be marked again later.
        entry.connectMarkedUntil = 0;
        if (entry.concurrent >= p.connectionMaxConcurrentCount) {
          this.stats.concurrentRefused++;
          if (refuse) return { ok: false, reason: 'concurrent-connections' };
        }
      }
    }
    entry.concurrent++;
    refill(entry.connect, p.connectionConnectRate, p.connectionConnectBurst, now);
    if (entry.connect.milli >= 1000) entry.connect.milli -= 1000;
    if (p.connectionEnabled && entry.connect.milli < 1000 && entry.connectMarkedUntil === 0) {
      entry.connectMarkedUntil = this.markUntil(now, p.connectionConnectDefenseTimePeriod);
    }
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const e = this.table.get(address);
        // The entry cannot have been evicted while it counted this connection.
        if (e && e.concurrent > 0) e.concurrent--;
      },
    };
  }

  /**
   * A client on a connection from `address` sends a CREATE cell. Returns false when the address
   * is marked (the caller refuses it with DESTROY RESOURCELIMIT). Connections not counted by
   * admitConnection (relays' addresses) are not limited either.
   */
  admitCreate(address: string): boolean {
    const p = this.paramsValue;
    if (!p.circuitCreationEnabled) return true;
    const entry = this.table.get(address);
    // Untracked: a relay's address, or a connection admitted while the defences were off.
    if (!entry) return true;
    const now = this.now();
    this.touch(address, entry);
    refill(entry.circuits, p.circuitCreationRate, p.circuitCreationBurst, now);
    if (entry.circuits.milli >= 1000) entry.circuits.milli -= 1000;
    // tor marks again on every CREATE over the limit: an address that keeps going stays marked.
    if (entry.circuits.milli < 1000 && entry.concurrent >= p.circuitCreationMinConnections) {
      const period = p.circuitCreationDefenseTimePeriod * 1000;
      if (entry.circuitMarkedUntil < now) {
        this.stats.markedAddresses++;
        entry.circuitMarkJitterMs = this.markUntil(now, p.circuitCreationDefenseTimePeriod) - now - period;
      }
      entry.circuitMarkedUntil = now + period + entry.circuitMarkJitterMs;
    }
    if (entry.circuitMarkedUntil >= now) {
      this.stats.circuitsRefused++;
      return p.circuitCreationDefenseType !== 2;
    }
    return true;
  }

  /** Forget every entry that holds nothing: no connection, no mark, both buckets full again. */
  sweep(): void {
    const now = this.now();
    for (const [address, entry] of this.table) if (this.forgettable(entry, now)) this.table.delete(address);
  }

  private forgettable(entry: AddressEntry, now: number): boolean {
    const p = this.paramsValue;
    if (entry.concurrent > 0 || entry.connectMarkedUntil >= now || entry.circuitMarkedUntil >= now) return false;
    refill(entry.connect, p.connectionConnectRate, p.connectionConnectBurst, now);
    refill(entry.circuits, p.circuitCreationRate, p.circuitCreationBurst, now);
    return entry.connect.milli >= p.connectionConnectBurst * 1000 && entry.circuits.milli >= p.circuitCreationBurst * 1000;
  }

  private entryFor(address: string, now: number): AddressEntry | undefined {
    const existing = this.table.get(address);
    if (existing) {
      this.touch(address, existing);
      return existing;
    }
    if (this.table.size >= this.maxAddresses) {
      this.sweep();
      if (this.table.size >= this.maxAddresses) {
        // Make room: the least recently seen address without open connections.
        for (const [a, e] of this.table) {
          if (e.concurrent === 0) {
            this.table.delete(a);
            break;
          }
        }
      }
      if (this.table.size >= this.maxAddresses) return undefined;
    }
    const p = this.paramsValue;
    const entry: AddressEntry = {
      concurrent: 0,
      connect: { milli: p.connectionConnectBurst * 1000, at: now },
      connectMarkedUntil: 0,
      circuits: { milli: p.circuitCreationBurst * 1000, at: now },
      circuitMarkedUntil: 0,
      circuitMarkJitterMs: 0,
    };
    this.table.set(address, entry);
    return entry;
  }

  private touch(address: string, entry: AddressEntry): void {
    this.table.delete(address);
    this.table.set(address, entry);
  }

  /** Marked until the period plus a random part of up to half of it (tor: so it cannot be timed). */
  private markUntil(now: number, periodSeconds: number): number {
    const half = Math.floor(periodSeconds / 2);
    return now + periodSeconds * 1000 + (half > 0 ? (1 + this.randomInt(half)) * 1000 : 0);
  }
}

const NOT_COUNTED: ConnectionTicket = { ok: true, release: () => {} };

function refill(b: Bucket, rate: number, burst: number, now: number): void {
  const cap = burst * 1000;
  // A clock that went backwards refills nothing (and does not drain either).
  if (now > b.at) b.milli = Math.min(cap, b.milli + (now - b.at) * rate);
  else if (b.milli > cap) b.milli = cap;
  b.at = Math.max(b.at, now);
  if (b.milli > cap) b.milli = cap;
}
