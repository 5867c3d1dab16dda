/**
 * Open enums for wire numbers. A value read off the wire is kept as a plain number, so a command,
 * reason or type this code does not know stays representable (and can be relayed, logged or
 * rejected with its number) instead of failing to parse. The named constants are for writing code;
 * `nameOf` is for logs and error messages.
 */
export type OpenEnum<T extends Record<string, number>> = Readonly<T> & {
  /** The constant's name, or `UNKNOWN(n)` for a value this code does not know. */
  nameOf(value: number): string;
  /** Whether `value` is one of the named constants. */
  isKnown(value: number): boolean;
};

export function openEnum<const T extends Record<string, number>>(values: T): OpenEnum<T> {
  const names = new Map<number, string>();
  for (const [k, v] of Object.entries(values)) if (!names.has(v)) names.set(v, k);
  return Object.freeze({
    ...values,
    nameOf: (value: number) => names.get(value) ?? `UNKNOWN(${value})`,
    isKnown: (value: number) => names.has(value),
  });
}
