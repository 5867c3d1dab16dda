import { runSelfcheck } from '../shared/selfcheck.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';

/** `telescope selfcheck`: run the in-memory circuit check with the Node host's AES engine and print it. */
export async function runSelfcheckCli(args: string[]): Promise<number> {
  if (args.length > 0) {
    console.error(`telescope selfcheck: takes no arguments (got ${args.join(' ')})`);
    return 2;
  }
  console.log('Telescope self-check: a 3-hop circuit built and used in memory, every cell through the real codecs and crypto\n');
  const report = await runSelfcheck({ aes: nodeAesCtr });
  for (const s of report.steps) console.log(`${s.ok ? '✓' : '✗'} ${s.name.padEnd(28)} ${s.detail}`);
  console.log(report.ok ? '\nall steps passed' : '\nSELF-CHECK FAILED');
  return report.ok ? 0 : 1;
}
