/**
 * tor's FallbackDir line: `ADDRESS[:DIRPORT] orport=N id=FINGERPRINT [weight=N] [ipv6=[ADDR]:PORT]`.
 * The items after the address may come in any order, as tor reads them. tor's built-in fallback list
 * is made of these lines, so the list and a torrc option go through this one conversion.
 */
import { formatIp, parseIp } from '../addr/index.ts';
import type { AddressPort, FallbackDir } from '../directory/index.ts';
import { ConfigError } from './torrc.ts';

const fail = (reason: string): never => {
  throw new ConfigError(reason);
};

function port(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) fail(`${what} '${text}' is not a port (1-65535)`);
  return Number(text);
}

/** `a.b.c.d[:port]` or `[v6][:port]`. */
function addressPort(text: string, what: string): { address: string; port: number | undefined; family: 4 | 6 } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]+))(?::(.*))?$/.exec(text);
  const ip = m ? parseIp(m[1] ?? m[2]!) : undefined;
  if (!m || !ip || (ip.family === 6) !== (m[1] !== undefined)) fail(`${what} '${text}' is not an IP address (IPv6 in [brackets]) with an optional port`);
  return { address: formatIp(ip!.bytes), port: m![3] === undefined ? undefined : port(m![3], `${what} port`), family: ip!.family };
}

/** Parses the value of a `FallbackDir` line (the keyword may be left out). */
export function parseFallbackDir(value: string): FallbackDir {
  const items = value.replace(/^\s*FallbackDir(?=\s|$)/i, '').trim().split(/\s+/).filter((t) => t !== '');
  if (items.length === 0) fail('empty FallbackDir line');
  let target: ReturnType<typeof addressPort> | undefined;
  let orPort: number | undefined;
  let fingerprint: string | undefined;
  let ipv6: AddressPort | undefined;
  let weight: number | undefined;
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq === -1) {
      if (target !== undefined) fail(`a second address '${item}' (one ADDRESS[:DIRPORT] per line)`);
      target = addressPort(item, 'address');
      continue;
    }
    const key = item.slice(0, eq).toLowerCase();
    const arg = item.slice(eq + 1);
    const once = <T>(had: T | undefined): void => {
      if (had !== undefined) fail(`${key}= given twice`);
    };
    if (key === 'orport') {
      once(orPort);
      orPort = port(arg, 'orport');
    } else if (key === 'id') {
      once(fingerprint);
      if (!/^[0-9a-fA-F]{40}$/.test(arg)) fail(`id '${arg}' is not 40 hex digits`);
      fingerprint = arg.toUpperCase();
    } else if (key === 'ipv6') {
      once(ipv6);
      const a = addressPort(arg, 'ipv6');
      if (a.family !== 6 || a.port === undefined) fail(`ipv6 '${arg}' is not [IPv6 address]:port`);
      ipv6 = { address: a.address, port: a.port! };
    } else if (key === 'weight') {
      once(weight);
      if (!/^[0-9]+(\.[0-9]+)?$/.test(arg)) fail(`weight '${arg}' is not a number`);
      weight = Number(arg);
    } else fail(`unknown option '${item}'`);
  }
  if (target === undefined) fail('missing ADDRESS[:DIRPORT]');
  if (fingerprint === undefined) fail('missing id=FINGERPRINT');
  if (orPort === undefined) fail('missing orport=N');
  return { nickname: undefined, address: target!.address, orPort: orPort!, dirPort: target!.port, fingerprint: fingerprint!, ipv6, weight };
}
