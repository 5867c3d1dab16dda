/** Test support: the exception `f` throws (the test fails if it throws none). */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

/** Test support: the error `p` rejects with (the test fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** Test support: whether `p` has settled yet, and with what error, without awaiting it. */
export function track(p: Promise<unknown>): { done: () => boolean; error: () => unknown } {
  let done = false;
  let error: unknown;
  p.then(() => { done = true; }, (e: unknown) => { done = true; error = e; });
  return { done: () => done, error: () => error };
}

/** Test support: let every pending promise chain run (microtasks), then one macrotask. */
export const settle = (): Promise<void> => new Promise<void>((r) => setTimeout(r, 0));
