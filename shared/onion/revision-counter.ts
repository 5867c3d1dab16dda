/**
 * The descriptor revision counter: milliseconds since `epochSeconds`, so a restarted service still
 * goes up, and always above the last one used, because an HSDir refuses a descriptor whose counter
 * is not above the one it holds. The service counts from the start of the period before the
 * descriptor's (a descriptor for the next period is uploaded before that period starts, and its
 * counter must grow from the first upload on).
 */
export function nextRevisionCounter(nowMs: number, epochSeconds: number, last?: bigint): bigint {
  const elapsed = BigInt(Math.max(0, Math.floor(nowMs - epochSeconds * 1000)));
  return last !== undefined && last >= elapsed ? last + 1n : elapsed;
}
