import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync, existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestnetDescription } from './index.ts';
import { stopChild } from './stop-child.ts';

/**
 * A tor 0.4.9 client of the private network with extra torrc lines (UseBridges, ExitNodes, ...),
 * started and stopped by a test. It waits for "Bootstrapped 100%" and exposes its SOCKS port.
 */
export interface TorClientProcess {
  readonly socksPort: number;
  readonly log: () => string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}

export async function startTorClient(desc: TestnetDescription, extra: readonly string[], timeoutMs = 120_000): Promise<TorClientProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'telescope-torclient-'));
  const socksPort = await freePort();
  const logFile = join(dir, 'notice.log');
  await writeFile(join(dir, 'torrc'), [
    'TestingTorNetwork 1',
    `DataDirectory ${dir}/data`,
    'RunAsDaemon 0',
    `SocksPort 127.0.0.1:${socksPort}`,
    `Log notice file ${logFile}`,
    'SafeLogging 0',
    'ConfluxEnabled 0',
    'ClientUseIPv6 0',
    // Exit with the test process even if it is SIGKILLed (tor polls this pid every 15 s).
    `__OwningControllerProcess ${process.pid}`,
    ...desc.authorities.map((a) => a.dirAuthorityLine),
    ...extra,
    '',
  ].join('\n'));
  const child: ChildProcess = spawn('tor', ['-f', join(dir, 'torrc')], { stdio: 'ignore' });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const stop = async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (!log().includes('Bootstrapped 100%')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const text = log();
      await stop();
      throw new Error(`tor client did not bootstrap:\n${text.split('\n').slice(-15).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { socksPort, log, stop };
}
