/**
 * tor1 relay-crypto throughput of a 3-hop client circuit, for `npm run bench -- extension`: the
 * service worker runs it through `self.telescope.benchCrypto(megabytes)` and the bench runs the very
 * same code in Node, so the worker/Node ratio compares engines, not two different loops. It uses
 * only shared/ and `globalThis.crypto`, like the code it measures.
 *
 * Outbound: seal for the exit and add all three layers (what the client does per cell it sends).
 * Inbound: peel layers until the exit's digest recognizes the cell (what it does per cell it
 * receives from the exit). The cells are made beforehand by three relay-side layers, untimed.
 */
import {
  ClientCircuitCrypto, RelayHopCrypto, RELAY_BODY_LEN, tor1KeysFrom, TOR1_KEY_MATERIAL_LEN, type Tor1HopKeys,
  nobleAesCtr, webCryptoAesCtr, WebCryptoAesCtr, type AesCtrFactory,
} from '../shared/crypto/index.ts';
import { RelayCryptoError, UsageError } from '../shared/util/index.ts';

/** Untimed cells first, so JIT tiers and key imports are settled before the clock starts. */
const WARMUP_CELLS = 500;
/** As a channel would prefetch after each batch of cells it handled (relay-crypto.ts does the same). */
const PREFETCH_EVERY = 32;
const MAX_MEGABYTES = 200;

export interface CryptoBenchRow {
  readonly engine: string;
  /** MB/s (10^6 bytes of 509-byte relay bodies per second) through all three layers. */
  readonly outboundMBps: number;
  readonly inboundMBps: number;
}

export interface CryptoBenchResult {
  readonly cells: number;
  readonly rows: readonly CryptoBenchRow[];
}

/**
 * An engine under test. `prefetch` says whether the loop lets WebCrypto refill between batches;
 * without it WebCryptoAesCtr makes every batch with its synchronous noble fallback.
 */
export interface CryptoBenchEngine {
  readonly name: string;
  readonly aes: AesCtrFactory;
  readonly prefetch: boolean;
}

export const WORKER_ENGINES: readonly CryptoBenchEngine[] = [
  { name: 'noble (batched)', aes: nobleAesCtr, prefetch: false },
  { name: 'WebCrypto prefetch', aes: webCryptoAesCtr, prefetch: true },
  // A loop that never yields to the event loop: WebCrypto's keystream can never arrive in time.
  { name: 'WebCrypto, never yields', aes: webCryptoAesCtr, prefetch: false },
];

function hopKeys(hop: number): Tor1HopKeys {
  return tor1KeysFrom(new Uint8Array(TOR1_KEY_MATERIAL_LEN).map((_, j) => (hop * 97 + j * 7 + 1) & 0xff));
}

/** A client circuit over `aes`, and a function that refills its WebCrypto keystreams. */
function clientCircuit(engine: CryptoBenchEngine): { crypto: ClientCircuitCrypto; refill: (() => Promise<void>) | undefined } {
  const ciphers: WebCryptoAesCtr[] = [];
  const crypto = new ClientCircuitCrypto((key) => {
    const c = engine.aes(key);
    if (c instanceof WebCryptoAesCtr) ciphers.push(c);
    return c;
  });
  for (const hop of [0, 1, 2]) crypto.addHop(hopKeys(hop));
  const refill = engine.prefetch ? async () => { await Promise.all(ciphers.map((c) => c.prefetch())); } : undefined;
  return { crypto, refill };
}

/** Milliseconds for cells [WARMUP_CELLS, total) of `perCell`, after the untimed warm-up. */
async function timeCells(total: number, perCell: (i: number) => void, refill: (() => Promise<void>) | undefined): Promise<number> {
  let t0 = 0;
  for (let i = 0; i < total; i++) {
    if (i === WARMUP_CELLS) t0 = performance.now();
    perCell(i);
    if (refill && i % PREFETCH_EVERY === PREFETCH_EVERY - 1) await refill();
  }
  return performance.now() - t0;
}

/** Cells as the exit sends them towards the client: sealed by the exit, layered by all three relays. */
function inboundCells(count: number): Uint8Array {
  const relays = [0, 1, 2].map((hop) => new RelayHopCrypto(hopKeys(hop), nobleAesCtr));
  const cells = new Uint8Array(count * RELAY_BODY_LEN);
  for (let i = 0; i < count; i++) {
    const body = cells.subarray(i * RELAY_BODY_LEN, (i + 1) * RELAY_BODY_LEN);
    body[0] = 2; // RELAY_DATA; recognized and digest stay zero for the seal
    body.fill(0x5a, 11);
    relays[2]!.encryptInbound(body, true);
    relays[1]!.encryptInbound(body, false);
    relays[0]!.encryptInbound(body, false);
  }
  return cells;
}

const mbps = (cells: number, ms: number): number => (cells * RELAY_BODY_LEN) / 1e6 / (ms / 1000);

/** Throughput of each engine over `megabytes` MB of relay bodies each way. */
export async function benchCrypto(megabytes: number, engines: readonly CryptoBenchEngine[] = WORKER_ENGINES): Promise<CryptoBenchResult> {
  if (typeof megabytes !== 'number' || !Number.isFinite(megabytes) || megabytes <= 0 || megabytes > MAX_MEGABYTES) {
    throw new UsageError(`benchCrypto: megabytes must be a number in (0, ${MAX_MEGABYTES}], got ${String(megabytes)}`);
  }
  const cells = Math.ceil((megabytes * 1e6) / RELAY_BODY_LEN);
  const total = cells + WARMUP_CELLS;
  const sealed = inboundCells(total);
  const work = new Uint8Array(sealed.length);
  const rows: CryptoBenchRow[] = [];
  for (const engine of engines) {
    const out = clientCircuit(engine);
    const body = new Uint8Array(RELAY_BODY_LEN);
    body[0] = 2;
    // The previous cell's ciphertext is the next plaintext: the seal rewrites the header fields it owns.
    const outMs = await timeCells(total, () => out.crypto.encryptOutbound(body, 2), out.refill);

    const inb = clientCircuit(engine);
    work.set(sealed);
    const inMs = await timeCells(total, (i) => {
      const hop = inb.crypto.decryptInbound(work.subarray(i * RELAY_BODY_LEN, (i + 1) * RELAY_BODY_LEN));
      if (hop !== 2) throw new RelayCryptoError(`benchCrypto (${engine.name}): cell ${i} recognized by hop ${hop}, not the exit`);
    }, inb.refill);
    rows.push({ engine: engine.name, outboundMBps: mbps(cells, outMs), inboundMBps: mbps(cells, inMs) });
  }
  return { cells, rows };
}
