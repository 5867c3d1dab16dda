import { readFileSync } from 'node:fs';
import { fromBase64, fromHex } from '../shared/bytes/index.ts';
import { Circuit, type RelayTarget } from '../shared/circuit/index.ts';
import { ChannelPool } from '../shared/circmgr/index.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';
import type { TestnetDescription } from '../testnet/index.ts';
import { benchTestnet, releaseBenchTestnet } from './testnet.ts';
import { startRelayProcess, waitForConsensusListing } from '../testnet/relay-process.ts';

/**
 * Cells forwarded per second by a relay in the middle of a circuit, Telescope's relay-bridge vs a
 * tor 0.4.9 relay, in the same run on the same network. The client builds 3-hop circuits
 * [tor guard, relay under test, tor exit] and downloads the 5 MiB body through each; every DATA
 * cell crosses the relay under test. (The relay publishes itself first: a tor exit only accepts
 * streams whose previous hop is a relay in its consensus.) Wall-clock cells/s depends on the whole
 * path, so the relay's own CPU time (from /proc) is measured too: cells per CPU-second is the
 * relay's cost alone.
 */

const CELL_DATA = 498;
const BODY = '/bytes/5m';

interface Result { name: string; cells: number; seconds: number; cpuSeconds: number }

function cpuSeconds(pid: number): number {
  // /proc/PID/stat fields 14 and 15: utime and stime in clock ticks (100 per second on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function download(circuit: Circuit, webPort: number): Promise<number> {
  const stream = await circuit.openStream('127.0.0.1', webPort);
  await stream.write(new TextEncoder().encode(`GET ${BODY} HTTP/1.0\r\n\r\n`));
  let bytes = 0;
  for (let c = await stream.read(); c; c = await stream.read()) bytes += c.length;
  return bytes;
}

async function throughMiddle(pool: ChannelPool, guard: RelayTarget, middle: RelayTarget, exit: RelayTarget, webPort: number): Promise<number> {
  const circuit = await Circuit.create(await pool.get(guard), guard, { aes: nodeAesCtr });
  try {
    await circuit.extend(middle);
    await circuit.extend(exit);
    return await download(circuit, webPort);
  } finally {
    circuit.destroy();
  }
}

async function measureRelay(name: string, guard: RelayTarget, middle: RelayTarget, pid: number, exit: RelayTarget, desc: TestnetDescription, rounds: number): Promise<Result> {
  const pool = new ChannelPool(tlsTransportFactory);
  try {
    // Warm up (and wait for the exit to know a freshly published middle): one transfer first.
    for (let attempt = 0; ; attempt++) {
      try {
        await throughMiddle(pool, guard, middle, exit, desc.web.port);
        break;
      } catch (e) {
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    let bytes = 0;
    for (let i = 0; i < rounds; i++) bytes += await throughMiddle(pool, guard, middle, exit, desc.web.port);
    const seconds = (performance.now() - t0) / 1000;
    return { name, cells: Math.ceil(bytes / CELL_DATA), seconds, cpuSeconds: cpuSeconds(pid) - cpu0 };
  } finally {
    pool.closeAll();
  }
}

export async function benchMiddleRelay(): Promise<void> {
  console.log('\n## Cells forwarded as a middle relay: Telescope relay-bridge vs tor 0.4.9 relay');
  const testnet = await benchTestnet();
  const desc = testnet.description;
  const relay = await startRelayProcess(desc, ['ExitRelay 0', 'PublishServerDescriptor 1'], 'telescopemiddle');
  try {
    await waitForConsensusListing(desc, relay.fingerprint);
    const rounds = Number(process.env.BENCH_RUNS ?? '5');
    const torMiddle = desc.relays.find((r) => r.nickname === 'test005r')!;
    const torGuard = desc.relays.find((r) => r.nickname === 'test004r')!;
    const torExit = desc.relays.find((r) => r.nickname === 'test006e')!;
    const target = (r: { fingerprint: string; ntorOnionKey: string; orPort: number; ed25519Identity?: string }): RelayTarget => ({
      rsaIdentity: fromHex(r.fingerprint),
      ntorOnionKey: fromBase64(r.ntorOnionKey),
      ipv4: { address: Uint8Array.of(127, 0, 0, 1), port: r.orPort },
      ...(r.ed25519Identity ? { ed25519Identity: fromBase64(r.ed25519Identity) } : {}),
    });
    const torPid = desc.processes.find((p) => p.nickname === torMiddle.nickname)!.pid;
    const results: Result[] = [];
    // Alternate to spread any drift in the machine's load over both.
    for (let i = 0; i < 2; i++) {
      results.push(await measureRelay('telescope', target(torGuard), target({ fingerprint: relay.fingerprint, ntorOnionKey: relay.ntorKey, orPort: relay.orPort }), relay.pid, target(torExit), desc, rounds));
      results.push(await measureRelay('tor', target(torGuard), target(torMiddle), torPid, target(torExit), desc, rounds));
    }
    const sum = (n: string) => results.filter((r) => r.name === n).reduce((a, r) => ({ cells: a.cells + r.cells, seconds: a.seconds + r.seconds, cpu: a.cpu + r.cpuSeconds }), { cells: 0, seconds: 0, cpu: 0 });
    const t = sum('telescope');
    const o = sum('tor');
    const line = (n: string, s: { cells: number; seconds: number; cpu: number }) =>
      `${n.padEnd(10)} ${String(s.cells).padStart(8)} cells  ${(s.cells / s.seconds).toFixed(0).padStart(7)} cells/s wall  ${(s.cells / Math.max(s.cpu, 0.01)).toFixed(0).padStart(8)} cells per CPU-second`;
    console.log(line('telescope', t));
    console.log(line('tor', o));
    console.log(`ratio Telescope/tor: wall ${((t.cells / t.seconds) / (o.cells / o.seconds)).toFixed(2)}, per CPU-second ${((t.cells / Math.max(t.cpu, 0.01)) / (o.cells / Math.max(o.cpu, 0.01))).toFixed(2)} (above 1: Telescope forwards more)`);
  } finally {
    await relay.stop();
    await releaseBenchTestnet(testnet);
  }
}
