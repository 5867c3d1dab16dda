/**
 * A loopback-only DNS responder for the test network's exits. It knows one name, "localhost"
 * (and names under it, RFC 6761), and answers NXDOMAIN for everything else at once. With it the
 * exits resolve "localhost" to 127.0.0.1 as tests expect, and a lookup of any other name fails
 * quickly instead of timing out, and never leaves the machine. (tor's exits do not special-case
 * "localhost": they ask the resolver, and with nothing listening the request just hangs.)
 */
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;
const RCODE_NOTIMP = 4;

/** The question section of a query: its name (lower-cased) and where the question ends. */
function readQuestion(q: Uint8Array): { name: string; qtype: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  for (;;) {
    const len = q[off];
    if (len === undefined) return undefined;
    off += 1;
    if (len === 0) break;
    // Compression pointers are not allowed in a query's only question; labels are <= 63 bytes.
    if (len > 63 || off + len > q.length) return undefined;
    labels.push(String.fromCharCode(...q.subarray(off, off + len)));
    off += len;
  }
  if (off + 4 > q.length) return undefined;
  const qtype = ((q[off] ?? 0) << 8) | (q[off + 1] ?? 0);
  return { name: labels.join('.').toLowerCase(), qtype, end: off + 4 };
}

/**
 * The response to one DNS query message, or undefined for bytes that are not a query (too short,
 * or a response): those get no answer, like any resolver would drop them.
 */
export function answerDnsQuery(query: Uint8Array): Uint8Array | undefined {
  if (query.length < 12) return undefined;
  const flags = ((query[2] ?? 0) << 8) | (query[3] ?? 0);
  if (flags & 0x8000) return undefined; // a response, not a query
  const opcode = (flags >> 11) & 0xf;
  const qdcount = ((query[4] ?? 0) << 8) | (query[5] ?? 0);
  const header = (rcode: number, qd: number, an: number): number[] => [
    query[0] ?? 0,
    query[1] ?? 0,
    // QR=1, same opcode, AA=1, same RD; RA=1, RCODE.
    0x80 | (opcode << 3) | 0x04 | ((flags >> 8) & 0x01),
    0x80 | rcode,
    0, qd, 0, an, 0, 0, 0, 0,
  ];
  if (opcode !== 0) return Uint8Array.from(header(RCODE_NOTIMP, 0, 0));
  const question = qdcount === 1 ? readQuestion(query) : undefined;
  if (!question) return Uint8Array.from(header(RCODE_FORMERR, 0, 0));
  // Echo the question byte for byte: tor randomizes the case of names (0x20 hack) and checks it.
  const qbytes = [...query.subarray(12, question.end)];
  const isLocal = question.name === 'localhost' || question.name.endsWith('.localhost');
  if (!isLocal) return Uint8Array.from([...header(RCODE_NXDOMAIN, 1, 0), ...qbytes]);
  let rdata: number[] | undefined;
  if (question.qtype === TYPE_A) rdata = [127, 0, 0, 1];
  else if (question.qtype === TYPE_AAAA) rdata = [...new Array<number>(15).fill(0), 1];
  if (!rdata) return Uint8Array.from([...header(0, 1, 0), ...qbytes]);
  const answer = [0xc0, 12, question.qtype >> 8, question.qtype & 0xff, 0, 1, 0, 0, 0, 60, 0, rdata.length, ...rdata];
  return Uint8Array.from([...header(0, 1, 1), ...qbytes, ...answer]);
}

/** Serve answerDnsQuery on UDP 127.0.0.1:port (0 = any free port). */
export async function startDnsServer(port: number): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const reply = answerDnsQuery(new Uint8Array(msg));
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return { socket, port: (socket.address() as AddressInfo).port };
}
