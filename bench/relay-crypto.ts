/**
 * tor1 relay-cell crypto throughput in Node: the per-cell path of a client (seal + encrypt for the
 * last hop through 1 or 3 layers; peel + recognize inbound) and of a relay (one layer, forward).
 * Prints MB/s of relay-cell bodies (509 bytes each) per AES engine.
 */
import {
  ClientCircuitCrypto, RelayHopCrypto, RELAY_BODY_LEN, tor1KeysFrom, nobleAesCtr, webCryptoAesCtr,
  WebCryptoAesCtr, type AesCtrFactory,
} from '../shared/crypto/index.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';

const CELLS = 20_000;

function keys(i: number) {
  return tor1KeysFrom(new Uint8Array(72).map((_, j) => (i * 72 + j) & 0xff));
}

function mbps(cells: number, ms: number): string {
  return ((cells * RELAY_BODY_LEN) / 1e6 / (ms / 1000)).toFixed(1).padStart(7);
}

/** Time `fn` over CELLS cells after a warm-up. */
async function timeCells(fn: (body: Uint8Array) => void, between?: () => Promise<void>): Promise<number> {
  const body = new Uint8Array(RELAY_BODY_LEN);
  for (let i = 0; i < 500; i++) fn(body);
  const t0 = performance.now();
  for (let i = 0; i < CELLS; i++) {
    fn(body);
    // The WebCrypto engine refills asynchronously between batches, as a channel would after
    // handling each batch of cells it read.
    if (between && i % 32 === 31) await between();
  }
  return performance.now() - t0;
}

export async function benchRelayCrypto(): Promise<void> {
  console.log(`\n## tor1 relay crypto in Node (${CELLS} cells of ${RELAY_BODY_LEN} bytes), MB/s`);
  console.log('engine               client out 1 hop  client out 3 hops  client in 3 hops  relay forward');
  const engines: [string, AesCtrFactory][] = [
    ['noble (batched)', nobleAesCtr],
    ['WebCrypto prefetch', webCryptoAesCtr],
    ['node:crypto', nodeAesCtr],
  ];
  for (const [name, aes] of engines) {
    const ciphers: WebCryptoAesCtr[] = [];
    const tracking: AesCtrFactory = (k) => {
      const c = aes(k);
      if (c instanceof WebCryptoAesCtr) ciphers.push(c);
      return c;
    };
    const between = aes === webCryptoAesCtr ? async () => { await Promise.all(ciphers.map((c) => c.prefetch())); } : undefined;

    const one = new ClientCircuitCrypto(tracking);
    one.addHop(keys(0));
    const out1 = await timeCells((b) => one.encryptOutbound(b, 0), between);

    const three = new ClientCircuitCrypto(tracking);
    [0, 1, 2].forEach((i) => three.addHop(keys(i)));
    const out3 = await timeCells((b) => three.encryptOutbound(b, 2), between);

    // Inbound: the exit seals and the middle and guard add their layers; only the client's work is timed.
    const client = new ClientCircuitCrypto(tracking);
    [0, 1, 2].forEach((i) => client.addHop(keys(i)));
    const relays = [0, 1, 2].map((i) => new RelayHopCrypto(keys(i), nodeAesCtr));
    const inbound = Array.from({ length: CELLS + 500 }, () => {
      const b = new Uint8Array(RELAY_BODY_LEN);
      relays[2]!.encryptInbound(b, true);
      relays[1]!.encryptInbound(b, false);
      relays[0]!.encryptInbound(b, false);
      return b;
    });
    let n = 0;
    const in3 = await timeCells((b) => {
      b.set(inbound[n++]!);
      client.decryptInbound(b);
    }, between);

    // A middle relay: peel one layer, find the cell is not for it, pass it on.
    const middle = new RelayHopCrypto(keys(1), tracking);
    const fwd = await timeCells((b) => middle.decryptOutbound(b), between);

    console.log(`${name.padEnd(20)} ${mbps(CELLS, out1)}           ${mbps(CELLS, out3)}            ${mbps(CELLS, in3)}          ${mbps(CELLS, fwd)}`);
  }
}
