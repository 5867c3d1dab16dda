import { Tally } from './outcomes.ts';

/**
 * Attack reports cross from the attacker's process to the test's as JSON: tallies and maps become
 * tagged plain data on the way out and come back as what they were.
 */

type Encoded = null | boolean | number | string | Encoded[] | { [k: string]: Encoded };

export function encodeReport(v: unknown): Encoded {
  if (v instanceof Tally) return { $tally: v.toJSON() };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [String(k), encodeReport(x)]) };
  if (Array.isArray(v)) return v.map(encodeReport);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encodeReport(x)]));
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  return String(v);
}

export function decodeReport(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeReport);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('$tally' in o) return Tally.from(o.$tally as [string, number][]);
    if ('$map' in o) return new Map((o.$map as [string, unknown][]).map(([k, x]) => [k, decodeReport(x)]));
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decodeReport(x)]));
  }
  return v;
}
