/**
 * One bootstrap of the Node client, in a process of its own so that its memory is the client's
 * alone (bench/bootstrap.ts starts it twice on one DataDirectory: cold, then warm). Usage:
 * `node --import tsx --expose-gc bench/bootstrap-node.ts` with BOOTSTRAP_BENCH set to the JSON of
 * NodeBootstrapArgs; it prints one line, `RESULT <json of NodeBootstrapResult>`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBridge, parseDirAuthorityLine } from '../shared/config/index.ts';
import { parseConsensus, parseAuthCerts, parseMicrodescs } from '../shared/netdoc/index.ts';
import type { ByteTransport } from '../shared/channel/index.ts';
import { TelescopeError } from '../shared/util/index.ts';
import { TorClient } from '../shared/client/index.ts';
import { FileStore } from '../node-platform/file-store.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';

export interface NodeBootstrapArgs {
  readonly dataDirectory: string;
  readonly authorities: readonly string[];
  readonly bridge: string;
}

export interface NodeBootstrapResult {
  /** From creating the client to bootstrap() resolving (a circuit built). */
  readonly bootstrapMs: number;
  /** When each bootstrap percentage was first reported, ms after the start. */
  readonly phases: Record<string, number>;
  /** Bytes read on every link (TLS payload: cells, so directory bodies plus cell overhead). */
  readonly linkBytesRead: number;
  readonly consensusBytes: number;
  readonly microdescBytes: number;
  readonly consensusParseMs: number;
  readonly consensusVerifyMs: number;
  readonly microdescParseMs: number;
  /** After bootstrap and a full GC, with the consensus and microdescriptors loaded. */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Peak resident set of the process (VmHWM). */
  readonly peakRssBytes: number;
}

class BootstrapBenchError extends TelescopeError {}

async function main(): Promise<void> {
  const raw = process.env.BOOTSTRAP_BENCH;
  if (!raw) throw new BootstrapBenchError('BOOTSTRAP_BENCH is not set');
  const args = JSON.parse(raw) as NodeBootstrapArgs;
  const authorities = args.authorities.map((l, i) => parseDirAuthorityLine(l, i));
  let linkBytesRead = 0;
  const countingTransports = async (target: Parameters<typeof tlsTransportFactory>[0]): Promise<ByteTransport> => {
    const t = await tlsTransportFactory(target);
    let handler: ((d: Uint8Array) => void) | undefined;
    const counting = (d: Uint8Array) => {
      linkBytesRead += d.length;
      handler?.(d);
    };
    Object.defineProperty(t, 'onData', { get: () => (handler ? counting : undefined), set: (h: typeof handler) => { handler = h; }, configurable: true });
    return t;
  };
  const phases: Record<string, number> = {};
  const t0 = performance.now();
  // As createNodeTorClient wires it, with the TLS transports counting what they read.
  const client = new TorClient({
    transports: countingTransports,
    store: new FileStore(args.dataDirectory),
    circuitOptions: { aes: nodeAesCtr },
    authorities,
    bridges: [parseBridge(args.bridge)],
    rules: { enforceDistinctSubnets: false },
    onBootstrap: (s) => { phases[`${s.percent} ${s.tag}`] ??= Math.round(performance.now() - t0); },
  });
  await client.bootstrap();
  const bootstrapMs = performance.now() - t0;

  // The documents as stored (FileStore: one file per key in the DataDirectory), parsed and verified again.
  const consensusText = await readFile(join(args.dataDirectory, 'consensus-microdesc'), 'latin1');
  const certText = await readFile(join(args.dataDirectory, 'cached-certs'), 'latin1');
  const microdescText = await readFile(join(args.dataDirectory, 'cached-microdescs'), 'latin1');
  const certs = parseAuthCerts(certText).map((c) => c.check(new Date()));
  let t = performance.now();
  const unverified = parseConsensus(consensusText);
  const consensusParseMs = performance.now() - t;
  t = performance.now();
  unverified.check(authorities.map((a) => ({ fingerprint: a.v3ident })), certs, new Date());
  const consensusVerifyMs = performance.now() - t;
  t = performance.now();
  parseMicrodescs(microdescText, { allowAnnotations: true });
  const microdescParseMs = performance.now() - t;

  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const status = await readFile('/proc/self/status', 'utf8');
  const result: NodeBootstrapResult = {
    bootstrapMs,
    phases,
    linkBytesRead,
    consensusBytes: consensusText.length,
    microdescBytes: microdescText.length,
    consensusParseMs,
    consensusVerifyMs,
    microdescParseMs,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    peakRssBytes: Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024,
  };
  await client.close();
  console.log(`RESULT ${JSON.stringify(result)}`);
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
