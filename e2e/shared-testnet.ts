import { createHash } from 'node:crypto';
import { inject } from 'vitest';
import { readDescription, type TestnetDescription } from '../testnet/index.ts';

/** The private network e2e/global-setup.ts started for this run. */
export function sharedTestnet(): TestnetDescription {
  const desc = readDescription(inject('testnetDir'));
  if (!desc) throw new Error('no private network description: e2e/global-setup.ts did not run');
  return desc;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
