import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reuseOrStart, type Testnet } from '../testnet/index.ts';

/**
 * The private network a bench runs on: TESTNET_DIR's (reused when running) or its own. A network
 * the bench starts is owned by the bench process (tor's __OwningControllerProcess), so it ends with
 * the bench even when the bench is killed, unless TESTNET_KEEP=1 asks to keep it for the next run.
 */
export function benchTestnet(): Promise<Testnet> {
  const keep = process.env.TESTNET_KEEP === '1';
  return reuseOrStart(process.env.TESTNET_DIR ?? join(tmpdir(), 'telescope-bench-testnet'), {
    log: (line) => console.log(line),
    ...(keep ? {} : { ownerPid: process.pid }),
  });
}

/** Stop a network the bench started, unless it was reused or is to be kept. */
export async function releaseBenchTestnet(testnet: Testnet | undefined): Promise<void> {
  if (!testnet || testnet.reused || process.env.TESTNET_KEEP === '1') return;
  await testnet.stop();
  console.log(`testnet: stopped the network in ${testnet.dir}`);
}
