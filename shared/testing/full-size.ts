/**
 * Test options for work on the full-size network (9,745 relays: parsing, verifying, thousands of
 * seeded path draws). It takes seconds on a quiet machine and several times that on a loaded one;
 * the node project's 30 s default made these tests fail under load, so their bound sits far above
 * any honest run instead of near the quiet machine's time.
 */
export const FULL_SIZE = { timeout: 180_000 } as const;
