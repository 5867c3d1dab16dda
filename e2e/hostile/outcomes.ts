import { DestroyReason, EndReason, ResolvedType } from '../../shared/cells/index.ts';
import type { Circuit } from '../../shared/circuit/index.ts';
import { CircuitError, StreamError } from '../../shared/util/index.ts';

/**
 * What a hostile request got, as a short label ("CONNECTED", "END EXITPOLICY", "RESOLVED
 * 127.0.0.1", "DESTROY RESOURCELIMIT", "timeout"), counted per label: attacks report these tallies
 * and the tests assert on them (e.g. no one-hop BEGIN ever got CONNECTED).
 */

export class Tally {
  private readonly counts = new Map<string, number>();

  add(label: string, n = 1): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + n);
  }

  get(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  /** Sum over labels that start with `prefix`. */
  startingWith(prefix: string): number {
    let n = 0;
    for (const [k, v] of this.counts) if (k.startsWith(prefix)) n += v;
    return n;
  }

  /** Sum over labels that match `re`. */
  matching(re: RegExp): number {
    let n = 0;
    for (const [k, v] of this.counts) if (re.test(k)) n += v;
    return n;
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  labels(): string[] {
    return [...this.counts.keys()];
  }

  /** As plain data (for a report that crosses processes); Tally.from reads it back. */
  toJSON(): [string, number][] {
    return [...this.counts];
  }

  static from(entries: readonly (readonly [string, number])[]): Tally {
    const t = new Tally();
    for (const [k, v] of entries) t.add(k, v);
    return t;
  }

  toString(): string {
    if (this.counts.size === 0) return 'nothing';
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}× ${k}`).join(', ');
  }
}

/** Labels of a RESOLVE that came back with an address or a name: a leaked answer. */
export const ANSWERED = /^RESOLVED (?!error)/;

/** The label for an error a stream, resolve or circuit operation failed with. */
export function failureLabel(e: unknown): string {
  if (e instanceof StreamError) {
    if (e.reason !== undefined) return `END ${EndReason.nameOf(e.reason)}`;
    return /timed out|no CONNECTED|no answer/i.test(e.message) ? 'timeout' : `stream error: ${e.message.slice(0, 60)}`;
  }
  if (e instanceof CircuitError) {
    if (/truncated|extend failed/i.test(e.message) && e.reason !== undefined) return `TRUNCATED ${DestroyReason.nameOf(e.reason)}`;
    if (e.reason !== undefined) return `DESTROY ${DestroyReason.nameOf(e.reason)}`;
    return `circuit error: ${e.message.slice(0, 60)}`;
  }
  if (e instanceof Error) {
    if (/timed out|no answer|within/i.test(e.message)) return 'timeout';
    return `${e.name}: ${e.message.slice(0, 80)}`;
  }
  return String(e).slice(0, 80);
}

/** BEGIN to host:port on `hop`: "CONNECTED" (and the stream closed again) or why not. */
export async function tryBegin(circuit: Circuit, host: string, port: number, opts: { hop?: number; timeoutMs?: number } = {}): Promise<string> {
  try {
    const stream = await circuit.openStream(host, port, { ...opts, timeoutMs: opts.timeoutMs ?? 15_000 });
    stream.close();
    return 'CONNECTED';
  } catch (e) {
    return failureLabel(e);
  }
}

/** RESOLVE `name` on `hop`: "RESOLVED <addresses>" when it leaked an answer, else why not. */
export async function tryResolve(circuit: Circuit, name: string, opts: { hop?: number; timeoutMs?: number } = {}): Promise<string> {
  try {
    const answer = await circuit.resolve(name, { ...opts, timeoutMs: opts.timeoutMs ?? 15_000 });
    const addresses = answer.answers.filter((a) => a.type === ResolvedType.IPV4 || a.type === ResolvedType.IPV6 || a.type === ResolvedType.HOSTNAME);
    return addresses.length > 0 ? `RESOLVED ${answer.describe().join(' ')}` : `RESOLVED error (${answer.describe().join(' ')})`;
  } catch (e) {
    return failureLabel(e);
  }
}
