import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Begin, BeginFlags, Connected, End, EndReason, Resolve, Resolved, ResolvedType } from '../../shared/cells/index.ts';
import { StreamError, TelescopeError } from '../../shared/util/index.ts';
import { defaultExitPolicy, exitPolicyFromConfig } from '../../shared/policy/index.ts';
import {
  DEFAULT_DNS_TTL,
  ExitLimits,
  answerResolve,
  clipDnsTtl,
  defaultConnect,
  endReasonForError,
  fuzzyDnsTtl,
  isTransientDnsError,
  openExitStream,
  type Connector,
  type ExitOptions,
  type ExitResult,
  type ResolvedAddress,
  type Resolver,
} from './exit.ts';

/**
 * The exit side of BEGIN and RESOLVE against real TCP servers on loopback and fake resolvers.
 * Nothing here touches an address other than 127.0.0.0/8 and ::1, and no real DNS is used.
 */

// Policies: a testing network exit that accepts loopback, one with IPv6, tor's default (which
// rejects private addresses), and a relay that is no exit.
const open4 = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, exitPolicy: 'accept *:*' });
const open6 = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, ipv6Exit: true, exitPolicy: 'accept *:*' });
const torDefault = defaultExitPolicy();
const nonExit = exitPolicyFromConfig({ exitRelay: false });

const errno = (code: string): Error => Object.assign(new Error(code), { code });
/** Deterministic TTL fuzz: always the lowest value. */
const lowest = (): number => 0;

let echo: net.Server;
let echoPort: number;
let echo6: net.Server | undefined;
let echo6Port = 0;
let closedPort: number;
const peers: string[] = [];

async function listen(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  echo = net.createServer((s) => {
    peers.push(s.remoteAddress ?? '');
    s.pipe(s);
  });
  echoPort = await listen(echo, '127.0.0.1');
  try {
    echo6 = net.createServer((s) => s.pipe(s));
    echo6Port = await listen(echo6, '::1');
  } catch {
    echo6 = undefined; // no IPv6 loopback on this machine: those tests are skipped
  }
  const tmp = net.createServer();
  closedPort = await listen(tmp, '127.0.0.1');
  await new Promise<void>((r) => tmp.close(() => r()));
});

afterAll(async () => {
  await new Promise<void>((r) => echo.close(() => r()));
  if (echo6) await new Promise<void>((r) => echo6!.close(() => r()));
});

function fakeResolver(table: Record<string, ResolvedAddress[] | Error>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const f = async (host: string): Promise<ResolvedAddress[]> => {
    calls.push(host);
    const v = table[host];
    if (v === undefined) throw errno('ENOTFOUND');
    if (v instanceof Error) throw v;
    return v;
  };
  return Object.assign(f, { calls });
}

async function expectEnd(result: Promise<ExitResult>, reason: number): Promise<End> {
  const r = await result;
  if (r.ok) {
    r.socket.destroy();
    throw new Error(`expected END ${EndReason.nameOf(reason)}, got CONNECTED`);
  }
  expect(EndReason.nameOf(r.end.reason)).toBe(EndReason.nameOf(reason));
  // Every END we produce survives the wire.
  expect(End.decode(r.end.encode())).toEqual(r.end);
  return r.end;
}

async function expectConnected(result: Promise<ExitResult>): Promise<{ socket: net.Socket; connected: Connected }> {
  const r = await result;
  if (!r.ok) throw new Error(`expected CONNECTED, got END ${EndReason.nameOf(r.end.reason)}`);
  expect(Connected.decode(r.connected.encode())).toEqual(r.connected);
  return r;
}

async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  socket.write(text);
  const got = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  return got.toString();
}

const base = (extra: Partial<ExitOptions> = {}): ExitOptions => ({ policy: open4, isExit: true, randomInt: lowest, ...extra });

describe('openExitStream: connecting', () => {
  it('connects to an IP literal, answers CONNECTED with the address and tor\'s default TTL, with TCP_NODELAY', async () => {
    let noDelay: boolean | undefined;
    const connect: Connector = async (...args) => {
      const s = await defaultConnect(...args);
      const orig = s.setNoDelay.bind(s);
      s.setNoDelay = (v?: boolean) => {
        noDelay = v;
        return orig(v);
      };
      return s;
    };
    const { socket, connected } = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ connect })));
    expect(connected.resolved).toEqual({ address: Uint8Array.of(127, 0, 0, 1), ttl: DEFAULT_DNS_TTL });
    expect(noDelay).toBe(true);
    expect(await roundTrip(socket, 'hello')).toBe('hello');
    socket.destroy();
  });

  it('resolves a host name on the exit, lower-cased, and gives a clipped, fuzzed TTL', async () => {
    const resolve = fakeResolver({ 'echo.test': [{ address: '127.0.0.1', family: 4, ttl: 30 }] });
    const low = await expectConnected(openExitStream(new Begin('Echo.TEST', echoPort), base({ resolve })));
    expect(resolve.calls).toEqual(['echo.test']);
    // TTL 30 s clips to 300, the fuzz moves it to 60..540; `lowest` picks 60.
    expect(low.connected.resolved).toEqual({ address: Uint8Array.of(127, 0, 0, 1), ttl: 60 });
    low.socket.destroy();
    // No TTL from the resolver (node's lookup gives none): tor's default 1800 → 3600 ± 240.
    const noTtl = fakeResolver({ 'echo.test': [{ address: '127.0.0.1', family: 4 }] });
    const high = await expectConnected(openExitStream(new Begin('echo.test', echoPort), base({ resolve: noTtl, randomInt: (max) => max - 1 })));
    expect(high.connected.resolved!.ttl).toBe(3840);
    high.socket.destroy();
  });

  it('binds outgoing connections to OutboundBindAddress (127.0.0.2 on loopback)', async () => {
    peers.length = 0;
    const { socket } = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ bindAddress: '127.0.0.2' })));
    expect(socket.localAddress).toBe('127.0.0.2');
    expect(await roundTrip(socket, 'x')).toBe('x');
    expect(peers).toContain('127.0.0.2');
    socket.destroy();
    const perFamily = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ bindAddress: { ipv4: '127.0.0.3' } })));
    expect(perFamily.socket.localAddress).toBe('127.0.0.3');
    perFamily.socket.destroy();
  });

  it('uses a bind address only for destinations of its family', async () => {
    const seen: (string | undefined)[] = [];
    const connect: Connector = async (_a, _p, bind) => {
      seen.push(bind);
      throw errno('ECONNREFUSED');
    };
    await expectEnd(openExitStream(new Begin('::1', 80), base({ policy: open6, connect, bindAddress: '127.0.0.2' })), EndReason.CONNECTREFUSED);
    await expectEnd(openExitStream(new Begin('::1', 80), base({ policy: open6, connect, bindAddress: { ipv4: '127.0.0.2', ipv6: '::1' } })), EndReason.CONNECTREFUSED);
    await expectEnd(openExitStream(new Begin('127.0.0.1', 80), base({ connect, bindAddress: { ipv6: '::1' } })), EndReason.CONNECTREFUSED);
    expect(seen).toEqual([undefined, '::1', undefined]);
  });

  it('treats an IPv4-mapped IPv6 literal as the IPv4 address', async () => {
    const { socket, connected } = await expectConnected(openExitStream(new Begin('::ffff:127.0.0.1', echoPort), base()));
    expect(connected.resolved!.address).toEqual(Uint8Array.of(127, 0, 0, 1));
    socket.destroy();
    // ...so a policy that rejects private IPv4 networks rejects it too.
    const end = await expectEnd(openExitStream(new Begin('::ffff:127.0.0.1', echoPort), base({ policy: torDefault })), EndReason.EXITPOLICY);
    expect(end.exitPolicyAddress!.address).toEqual(Uint8Array.of(127, 0, 0, 1));
  });
});

describe('openExitStream: the END reasons', () => {
  it('port 0 and an empty address are TORPROTOCOL', async () => {
    await expectEnd(openExitStream(new Begin('127.0.0.1', 0), base()), EndReason.TORPROTOCOL);
    await expectEnd(openExitStream(new Begin('', 80), base()), EndReason.TORPROTOCOL);
  });

  it('a relay that is no exit: EXITPOLICY with the address for an IP, RESOLVEFAILED for a name (never looked up)', async () => {
    const resolve = fakeResolver({ 'echo.test': [{ address: '127.0.0.1', family: 4 }] });
    const ip = await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), { policy: nonExit, isExit: false, resolve }), EndReason.EXITPOLICY);
    expect(ip.exitPolicyAddress).toEqual({ address: Uint8Array.of(127, 0, 0, 1), ttl: DEFAULT_DNS_TTL });
    expect(ip.encode()).toEqual(Uint8Array.of(4, 127, 0, 0, 1, 0, 0, 0x07, 0x08));
    await expectEnd(openExitStream(new Begin('echo.test', echoPort), { policy: nonExit, isExit: false, resolve }), EndReason.RESOLVEFAILED);
    // isExit false wins over a policy that would accept; a reject-everything policy is no exit either.
    await expectEnd(openExitStream(new Begin('echo.test', echoPort), { policy: open4, isExit: false, resolve }), EndReason.RESOLVEFAILED);
    await expectEnd(openExitStream(new Begin('echo.test', echoPort), { policy: nonExit, isExit: true, resolve }), EndReason.RESOLVEFAILED);
    expect(resolve.calls).toEqual([]);
  });

  it('EXITPOLICY on the resolved address, with that address and its TTL (private addresses under tor\'s default policy)', async () => {
    peers.length = 0;
    const resolve = fakeResolver({ 'inside.test': [{ address: '127.0.0.1', family: 4, ttl: 4000 }] });
    const end = await expectEnd(openExitStream(new Begin('inside.test', echoPort), base({ policy: torDefault, resolve })), EndReason.EXITPOLICY);
    expect(end.exitPolicyAddress).toEqual({ address: Uint8Array.of(127, 0, 0, 1), ttl: 3600 - 240 });
    await expectEnd(openExitStream(new Begin('10.1.2.3', 443), base({ policy: torDefault })), EndReason.EXITPOLICY);
    await expectEnd(openExitStream(new Begin('192.168.0.1', 443), base({ policy: torDefault })), EndReason.EXITPOLICY);
    expect(peers).toEqual([]); // nothing reached the server
  });

  it('EXITPOLICY for a port the policy rejects', async () => {
    const only80 = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, exitPolicy: 'accept *:80,reject *:*' });
    const end = await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), base({ policy: only80 })), EndReason.EXITPOLICY);
    expect(end.exitPolicyAddress!.ttl).toBe(DEFAULT_DNS_TTL);
    // tor's default policy rejects SMTP.
    await expectEnd(openExitStream(new Begin('93.184.216.34', 25), base({ policy: torDefault })), EndReason.EXITPOLICY);
  });

  it('IPv6 without IPv6 exit: EXITPOLICY with the 16-byte address', async () => {
    const end = await expectEnd(openExitStream(new Begin('::1', echo6Port || 80), base()), EndReason.EXITPOLICY);
    expect(end.exitPolicyAddress!.address).toHaveLength(16);
  });

  it('IPV4_NOT_OK without IPv6 exit: EXITPOLICY without an address (one byte)', async () => {
    const end = await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort, BeginFlags.IPV4_NOT_OK | BeginFlags.IPV6_OK), base()), EndReason.EXITPOLICY);
    expect(end.encode()).toEqual(Uint8Array.of(EndReason.EXITPOLICY));
  });

  it('RESOLVEFAILED when the lookup fails, transiently or not, finds nothing, or takes too long', async () => {
    const resolve = fakeResolver({
      'nx.test': errno('ENOTFOUND'),
      'again.test': errno('EAI_AGAIN'),
      'empty.test': [],
      'junk.test': [{ address: 'not-an-ip', family: 4 }],
    });
    for (const host of ['nx.test', 'again.test', 'empty.test', 'junk.test', 'unknown.test']) {
      await expectEnd(openExitStream(new Begin(host, 80), base({ resolve })), EndReason.RESOLVEFAILED);
    }
    const hang: Resolver = () => new Promise(() => {});
    await expectEnd(openExitStream(new Begin('slow.test', 80), base({ resolve: hang, timeoutMs: 30 })), EndReason.RESOLVEFAILED);
    const broken: Resolver = () => {
      throw new TypeError('resolver bug');
    };
    await expectEnd(openExitStream(new Begin('x.test', 80), base({ resolve: broken })), EndReason.RESOLVEFAILED);
  });

  it('RESOLVEFAILED for names no DNS name looks like, and for reverse-lookup names', async () => {
    const resolve = fakeResolver({});
    await expectEnd(openExitStream(new Begin('bad name', 80), base({ resolve })), EndReason.RESOLVEFAILED);
    await expectEnd(openExitStream(new Begin('a*b.test', 80), base({ resolve })), EndReason.RESOLVEFAILED);
    await expectEnd(openExitStream(new Begin('1.0.0.127.in-addr.arpa', 80), base({ resolve })), EndReason.RESOLVEFAILED);
    expect(resolve.calls).toEqual([]);
  });

  it('CONNECTREFUSED from a closed port on 127.0.0.1', async () => {
    await expectEnd(openExitStream(new Begin('127.0.0.1', closedPort), base()), EndReason.CONNECTREFUSED);
  });

  it('TIMEOUT when connecting takes too long, and the late socket is closed', async () => {
    let late: net.Socket | undefined;
    const slow: Connector = async (address, port) => {
      await new Promise((r) => setTimeout(r, 80));
      late = net.connect(port, address);
      return late;
    };
    await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), base({ connect: slow, timeoutMs: 20 })), EndReason.TIMEOUT);
    await vi.waitFor(() => expect(late?.destroyed).toBe(true));
    // The default connector stops when told to.
    const signals: AbortSignal[] = [];
    const hang: Connector = (_a, _p, _b, signal) => {
      signals.push(signal);
      return new Promise(() => {});
    };
    await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), base({ connect: hang, timeoutMs: 20 })), EndReason.TIMEOUT);
    expect(signals[0]!.aborted).toBe(true);
  });

  it('maps connect errors as tor\'s errno_to_stream_end_reason does', async () => {
    const table: [string, number][] = [
      ['ECONNREFUSED', EndReason.CONNECTREFUSED],
      ['ETIMEDOUT', EndReason.TIMEOUT],
      ['ENETUNREACH', EndReason.NOROUTE],
      ['EHOSTUNREACH', EndReason.NOROUTE],
      ['EACCES', EndReason.NOROUTE],
      ['EPERM', EndReason.NOROUTE],
      ['ECONNRESET', EndReason.CONNRESET],
      ['EMFILE', EndReason.RESOURCELIMIT],
      ['ENFILE', EndReason.RESOURCELIMIT],
      ['ENOBUFS', EndReason.RESOURCELIMIT],
      ['ENOMEM', EndReason.RESOURCELIMIT],
      ['EADDRINUSE', EndReason.RESOURCELIMIT],
      ['EADDRNOTAVAIL', EndReason.RESOURCELIMIT],
      ['EINVAL', EndReason.INTERNAL],
      ['EAFNOSUPPORT', EndReason.INTERNAL],
      ['EPIPE', EndReason.DONE],
      ['EWHATEVER', EndReason.MISC],
    ];
    for (const [code, reason] of table) {
      expect(endReasonForError(errno(code))).toBe(reason);
      const connect: Connector = async () => {
        throw errno(code);
      };
      await expectEnd(openExitStream(new Begin('127.0.0.1', 80), base({ connect })), reason);
    }
    expect(endReasonForError(new Error('no code'))).toBe(EndReason.MISC);
    expect(endReasonForError('a string')).toBe(EndReason.MISC);
    // A connector that throws synchronously is a failed connect too.
    const sync: Connector = () => {
      throw errno('EHOSTUNREACH');
    };
    await expectEnd(openExitStream(new Begin('127.0.0.1', 80), base({ connect: sync })), EndReason.NOROUTE);
  });

  it('CONNECTREFUSED for an address of a known relay (network re-entry), before connecting', async () => {
    const connect = vi.fn<Connector>();
    const isRelayAddress = (a: string, p: number): boolean => a === '127.0.0.1' && p === 9001;
    await expectEnd(openExitStream(new Begin('127.0.0.1', 9001), base({ connect, isRelayAddress })), EndReason.CONNECTREFUSED);
    expect(connect).not.toHaveBeenCalled();
  });

  it('HIBERNATING when the relay takes no new streams', async () => {
    await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), base({ hibernating: true })), EndReason.HIBERNATING);
  });
});

describe('openExitStream: BEGIN flags pick the address', () => {
  const both = fakeResolver({ 'dual.test': [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }] });
  const connect: Connector = async (address, port) => {
    throw Object.assign(errno('ECONNREFUSED'), { address, port });
  };
  /** The address openExitStream tried, read from the CONNECTREFUSED path of a recording connector. */
  async function picked(flags: number, opts: Partial<ExitOptions> = {}): Promise<string> {
    let seen = '';
    const record: Connector = async (address, port, bind, signal) => {
      seen = address;
      return connect(address, port, bind, signal);
    };
    const r = await openExitStream(new Begin('dual.test', 443, flags), base({ policy: open6, resolve: both, connect: record, ...opts }));
    expect(r.ok).toBe(false);
    return seen;
  }

  it('IPv4 by default, even if IPv6 is acceptable', async () => {
    expect(await picked(0)).toBe('127.0.0.1');
    expect(await picked(BeginFlags.IPV6_OK)).toBe('127.0.0.1');
  });

  it('IPv6 when preferred, or when IPv4 is not acceptable', async () => {
    expect(await picked(BeginFlags.IPV6_OK | BeginFlags.IPV6_PREFERRED)).toBe('::1');
    expect(await picked(BeginFlags.IPV6_OK | BeginFlags.IPV4_NOT_OK)).toBe('::1');
  });

  it('the policy overrides the preference when it allows only one family', async () => {
    const v6only = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, ipv6Exit: true, exitPolicy: 'reject *4:*,accept *6:*' });
    expect(await picked(BeginFlags.IPV6_OK, { policy: v6only })).toBe('::1');
    const v4only = exitPolicyFromConfig({ exitRelay: true, rejectPrivate: false, ipv6Exit: true, exitPolicy: 'reject *6:*,accept *4:*' });
    expect(await picked(BeginFlags.IPV6_OK | BeginFlags.IPV6_PREFERRED, { policy: v4only })).toBe('127.0.0.1');
  });

  it('without IPv6 exit the IPv6 answer is never used, and IPV6_PREFERRED is ignored', async () => {
    expect(await picked(BeginFlags.IPV6_OK | BeginFlags.IPV6_PREFERRED, { policy: open4 })).toBe('127.0.0.1');
  });

  it('RESOLVEFAILED when the name has no address of a family the client accepts', async () => {
    const v6name = fakeResolver({ 'v6.test': [{ address: '::1', family: 6 }] });
    await expectEnd(openExitStream(new Begin('v6.test', 443), base({ policy: open6, resolve: v6name })), EndReason.RESOLVEFAILED);
    const v4name = fakeResolver({ 'v4.test': [{ address: '127.0.0.1', family: 4 }] });
    await expectEnd(
      openExitStream(new Begin('v4.test', 443, BeginFlags.IPV6_OK | BeginFlags.IPV4_NOT_OK), base({ policy: open6, resolve: v4name })),
      EndReason.RESOLVEFAILED,
    );
  });

  it('connects over IPv6 loopback with IPv6 exit', async () => {
    if (!echo6) return;
    const resolve = fakeResolver({ 'six.test': [{ address: '::1', family: 6 }] });
    const { socket, connected } = await expectConnected(
      openExitStream(new Begin('six.test', echo6Port, BeginFlags.IPV6_OK), base({ policy: open6, resolve })),
    );
    expect(connected.resolved!.address).toHaveLength(16);
    expect(Connected.decode(connected.encode()).resolved!.address).toEqual(connected.resolved!.address);
    expect(await roundTrip(socket, 'six')).toBe('six');
    socket.destroy();
  });
});

describe('openExitStream: cancellation', () => {
  it('an aborted signal rejects with StreamError and leaves no socket open', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(openExitStream(new Begin('127.0.0.1', echoPort), base({ signal: ac.signal }))).rejects.toBeInstanceOf(StreamError);

    const during = new AbortController();
    const hang: Resolver = () => new Promise(() => {});
    const p = openExitStream(new Begin('slow.test', 80), base({ resolve: hang, signal: during.signal }));
    during.abort();
    await expect(p).rejects.toBeInstanceOf(StreamError);

    let late: net.Socket | undefined;
    const slow: Connector = async (address, port) => {
      await new Promise((r) => setTimeout(r, 40));
      late = net.connect(port, address);
      return late;
    };
    const connecting = new AbortController();
    const q = openExitStream(new Begin('127.0.0.1', echoPort), base({ connect: slow, signal: connecting.signal }));
    setTimeout(() => connecting.abort(), 5);
    await expect(q).rejects.toBeInstanceOf(TelescopeError);
    await vi.waitFor(() => expect(late?.destroyed).toBe(true));
  });

  it('refuses a nonsense timeout', async () => {
    await expect(openExitStream(new Begin('127.0.0.1', 80), base({ timeoutMs: 0 }))).rejects.toThrow(/timeout/);
  });
});

describe('ExitLimits: relay-wide caps on exit sockets and DNS lookups', () => {
  /** A resolver whose answers the test releases by hand. */
  function heldResolver(): Resolver & { release(): void; asked: number } {
    const waiting: (() => void)[] = [];
    const f = Object.assign(
      (_host: string) => {
        f.asked++;
        return new Promise<ResolvedAddress[]>((resolve) => waiting.push(() => resolve([{ address: '127.0.0.1', family: 4 }])));
      },
      { asked: 0, release: () => waiting.shift()?.() },
    );
    return f;
  }

  it('over MaxConcurrentDnsLookups, BEGIN to a name and RESOLVE get END RESOURCELIMIT; an IP literal needs no lookup', async () => {
    const limits = new ExitLimits(100, 2);
    const resolve = heldResolver();
    const first = openExitStream(new Begin('a.test', echoPort), base({ limits, resolve }));
    const second = openExitStream(new Begin('b.test', echoPort), base({ limits, resolve }));
    await vi.waitFor(() => expect(resolve.asked).toBe(2));
    expect(limits.lookups).toBe(2);
    await expectEnd(openExitStream(new Begin('c.test', echoPort), base({ limits, resolve })), EndReason.RESOURCELIMIT);
    const busy = await answerResolve(new Resolve('d.test'), { isExit: true, policy: open4, resolve, limits });
    expect(busy).toBeInstanceOf(End);
    expect(EndReason.nameOf((busy as End).reason)).toBe('RESOURCELIMIT');
    expect(resolve.asked).toBe(2);
    const literal = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ limits, resolve })));
    literal.socket.destroy();
    resolve.release();
    resolve.release();
    for (const p of [first, second]) (await expectConnected(p)).socket.destroy();
    expect(limits.lookups).toBe(0);
  });

  it('a lookup keeps its slot until the resolver answers, even after its stream gave up', async () => {
    const limits = new ExitLimits(100, 1);
    const resolve = heldResolver();
    const ac = new AbortController();
    const gaveUp = openExitStream(new Begin('slow.test', echoPort), base({ limits, resolve, signal: ac.signal }));
    await vi.waitFor(() => expect(resolve.asked).toBe(1));
    ac.abort();
    await expect(gaveUp).rejects.toBeInstanceOf(StreamError);
    // getaddrinfo cannot be called back: its thread is still busy, so the slot is too.
    expect(limits.lookups).toBe(1);
    await expectEnd(openExitStream(new Begin('next.test', echoPort), base({ limits, resolve })), EndReason.RESOURCELIMIT);
    resolve.release();
    await vi.waitFor(() => expect(limits.lookups).toBe(0));
    const after = openExitStream(new Begin('next.test', echoPort), base({ limits, resolve }));
    await vi.waitFor(() => expect(resolve.asked).toBe(2));
    resolve.release();
    (await expectConnected(after)).socket.destroy();
  });

  it('over MaxExitSockets a BEGIN gets END RESOURCELIMIT; a closed socket, or a failed connect, frees its slot', async () => {
    const limits = new ExitLimits(1, 10);
    const one = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ limits })));
    expect(limits.sockets).toBe(1);
    await expectEnd(openExitStream(new Begin('127.0.0.1', echoPort), base({ limits })), EndReason.RESOURCELIMIT);
    one.socket.destroy();
    await vi.waitFor(() => expect(limits.sockets).toBe(0));
    await expectEnd(openExitStream(new Begin('127.0.0.1', closedPort), base({ limits })), EndReason.CONNECTREFUSED);
    expect(limits.sockets).toBe(0);
    const two = await expectConnected(openExitStream(new Begin('127.0.0.1', echoPort), base({ limits })));
    two.socket.destroy();
  });

  it('a stream that goes away while connecting aborts the connect and frees the slot', async () => {
    const limits = new ExitLimits(1, 10);
    const seen: AbortSignal[] = [];
    const connect: Connector = (_a, _p, _b, signal) => {
      seen.push(signal);
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(errno('ECANCELED')), { once: true }));
    };
    const ac = new AbortController();
    const p = openExitStream(new Begin('127.0.0.1', echoPort), base({ limits, connect, signal: ac.signal }));
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    expect(limits.sockets).toBe(1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(StreamError);
    expect(seen[0]!.aborted).toBe(true);
    await vi.waitFor(() => expect(limits.sockets).toBe(0));
  });
});

describe('openExitStream: properties', () => {
  it('any BEGIN gives CONNECTED or an END with a tor reason, never an exception', async () => {
    const hostArb = fc.oneof(
      fc.stringMatching(/^[ -~]{0,40}$/).filter((h) => !h.includes(':') || /^[0-9a-fA-F:.]+$/.test(h)),
      fc.ipV4(),
      fc.ipV6(),
      fc.domain(),
    );
    const answerArb = fc.oneof(
      fc.record({ address: fc.ipV4(), family: fc.constant(4 as const), ttl: fc.option(fc.nat(), { nil: undefined }) }),
      fc.record({ address: fc.ipV6(), family: fc.constant(6 as const) }),
      fc.record({ address: fc.string(), family: fc.constantFrom(4 as const, 6 as const) }),
    );
    const outcome = fc.oneof(fc.array(answerArb, { maxLength: 4 }), fc.constantFrom('ENOTFOUND', 'EAI_AGAIN', 'ESERVFAIL'));
    const connectOutcome = fc.constantFrom('ok', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'EWEIRD');
    await fc.assert(
      fc.asyncProperty(
        hostArb,
        fc.integer({ min: 0, max: 65535 }),
        fc.nat({ max: 15 }),
        outcome,
        connectOutcome,
        fc.constantFrom(open4, open6, torDefault, nonExit),
        fc.boolean(),
        async (host, port, flags, answers, conn, policy, isExit) => {
          const resolve: Resolver = async () => {
            if (typeof answers === 'string') throw errno(answers);
            return answers;
          };
          const connect: Connector = async () => {
            if (conn !== 'ok') throw errno(conn);
            // A socket that is never used; closing it is the test's business.
            return new net.Socket();
          };
          const r = await openExitStream(new Begin(host, port, flags), { policy, isExit, resolve, connect, randomInt: lowest });
          if (r.ok) {
            expect(r.connected.resolved).toBeDefined();
            expect(Connected.decode(r.connected.encode())).toEqual(r.connected);
            r.socket.destroy();
            // A CONNECTED is only ever for what the policy accepts.
            expect(policy.evaluate(r.connected.resolved!.address, port)).toBe('accepted');
            expect(isExit).toBe(true);
          } else {
            expect(EndReason.nameOf(r.end.reason)).not.toMatch(/^\d/);
            expect(End.decode(r.end.encode())).toEqual(r.end);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** answerResolve when the answer must be a RESOLVED (no cap in play). */
async function answerResolved(...args: Parameters<typeof answerResolve>): Promise<Resolved> {
  const r = await answerResolve(...args);
  if (!(r instanceof Resolved)) throw new Error(`expected RESOLVED, got END ${EndReason.nameOf(r.reason)}`);
  return r;
}

describe('answerResolve', () => {
  const resolve = fakeResolver({
    'dual.test': [
      { address: '192.0.2.1', family: 4, ttl: 100 },
      { address: '192.0.2.2', family: 4 },
      { address: '2001:db8::1', family: 6, ttl: 9000 },
    ],
    'six.test': [{ address: '2001:db8::1', family: 6 }],
    'again.test': errno('EAI_AGAIN'),
    'servfail.test': errno('ESERVFAIL'),
  });
  const answersOf = (r: Resolved): { type: string; value: string; ttl: number }[] => {
    expect(Resolved.decode(r.encode())).toEqual(r);
    return r.answers.map((a, i) => ({ type: ResolvedType.nameOf(a.type), value: r.describe()[i]!, ttl: a.ttl }));
  };

  it('answers the first IPv4 and, with IPv6 exit, the first IPv6 address, with fuzzed TTLs', async () => {
    expect(answersOf(await answerResolved(new Resolve('Dual.Test'), { isExit: true, policy: open6, resolve, randomInt: lowest }))).toEqual([
      { type: 'IPV4', value: '192.0.2.1', ttl: 60 },
      { type: 'IPV6', value: '2001:db8::1', ttl: 3360 },
    ]);
    expect(answersOf(await answerResolved(new Resolve('dual.test'), { isExit: true, policy: open4, resolve, randomInt: lowest }))).toEqual([
      { type: 'IPV4', value: '192.0.2.1', ttl: 60 },
    ]);
    expect(answersOf(await answerResolved(new Resolve('dual.test'), { isExit: true, ipv6Exit: true, resolve, randomInt: lowest }))).toHaveLength(2);
  });

  it('answers an error, non-transient, with TTL 0 on a relay that is no exit', async () => {
    const r = await answerResolved(new Resolve('dual.test'), { isExit: false, resolve });
    expect(answersOf(r)).toEqual([{ type: 'ERROR_NONTRANSIENT', value: 'ERROR_NONTRANSIENT', ttl: 0 }]);
    expect(String.fromCharCode(...r.answers[0]!.value)).toBe('Error resolving hostname');
    expect(answersOf(await answerResolved(new Resolve('dual.test'), { isExit: true, policy: nonExit, resolve }))[0]!.type).toBe('ERROR_NONTRANSIENT');
  });

  it('tells transient failures (server failure, timeout) from permanent ones (no such name, no address)', async () => {
    const o = { isExit: true, policy: open4, resolve, randomInt: lowest };
    const type = async (name: string, extra = {}): Promise<string> => answersOf(await answerResolved(new Resolve(name), { ...o, ...extra }))[0]!.type;
    expect(await type('nx.test')).toBe('ERROR_NONTRANSIENT');
    expect(await type('six.test')).toBe('ERROR_NONTRANSIENT'); // only IPv6, and no IPv6 exit
    expect(await type('again.test')).toBe('ERROR_TRANSIENT');
    expect(await type('servfail.test')).toBe('ERROR_TRANSIENT');
    expect(await type('slow.test', { resolve: () => new Promise(() => {}), timeoutMs: 20 })).toBe('ERROR_TRANSIENT');
    expect(await type('bad name')).toBe('ERROR_NONTRANSIENT');
    // A failed lookup carries tor's clipped, fuzzed TTL for a failure: 300 ± 240.
    const r = await answerResolved(new Resolve('nx.test'), o);
    expect(r.answers[0]!.ttl).toBe(60);
  });

  it('answers an IP literal with itself', async () => {
    expect(answersOf(await answerResolved(new Resolve('192.0.2.7'), { isExit: false }))).toEqual([
      { type: 'IPV4', value: '192.0.2.7', ttl: DEFAULT_DNS_TTL },
    ]);
    expect(answersOf(await answerResolved(new Resolve('2001:db8::7'), { isExit: true }))[0]!.type).toBe('IPV6');
  });

  it('answers reverse lookups with a host name, never for internal addresses', async () => {
    const reverse = vi.fn(async (a: string) => (a === '192.0.2.1' ? ['host.example'] : []));
    const o = { isExit: true, policy: open4, resolve, reverse, randomInt: lowest };
    expect(answersOf(await answerResolved(new Resolve('1.2.0.192.in-addr.arpa'), o))).toEqual([
      { type: 'HOSTNAME', value: 'host.example', ttl: 3360 },
    ]);
    expect(reverse).toHaveBeenCalledWith('192.0.2.1');
    expect(answersOf(await answerResolved(new Resolve('9.2.0.192.in-addr.arpa'), o))[0]!.type).toBe('ERROR_NONTRANSIENT');
    expect(answersOf(await answerResolved(new Resolve('1.0.0.127.in-addr.arpa'), o))[0]!.type).toBe('ERROR_NONTRANSIENT');
    expect(answersOf(await answerResolved(new Resolve('1.168.192.in-addr.arpa'), o))[0]!.type).toBe('ERROR_NONTRANSIENT');
    expect(reverse).toHaveBeenCalledTimes(2);
    const failing = { ...o, reverse: async () => Promise.reject(errno('ETIMEOUT')) };
    expect(answersOf(await answerResolved(new Resolve('1.2.0.192.in-addr.arpa'), failing))[0]!.type).toBe('ERROR_TRANSIENT');
  });

  it('rejects with StreamError when cancelled', async () => {
    const ac = new AbortController();
    const p = answerResolve(new Resolve('slow.test'), { isExit: true, policy: open4, resolve: () => new Promise(() => {}), signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(StreamError);
  });

  it('property: any name gets a RESOLVED that survives the wire, never an exception', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.stringMatching(/^[ -~]{0,60}$/), fc.domain(), fc.ipV4(), fc.ipV6()),
        fc.oneof(fc.array(fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), family: fc.constantFrom(4 as const, 6 as const) }), { maxLength: 3 }), fc.constantFrom('ENOTFOUND', 'EAI_AGAIN')),
        fc.boolean(),
        async (name, answers, isExit) => {
          const r = await answerResolved(new Resolve(name), {
            isExit,
            policy: open6,
            resolve: async () => {
              if (typeof answers === 'string') throw errno(answers);
              return answers;
            },
            reverse: async () => ['x.example'],
          });
          expect(r.answers.length).toBeGreaterThan(0);
          expect(Resolved.decode(r.encode())).toEqual(r);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('helpers', () => {
  it('clipDnsTtl and fuzzyDnsTtl follow tor', () => {
    expect(clipDnsTtl(0)).toBe(300);
    expect(clipDnsTtl(299)).toBe(300);
    expect(clipDnsTtl(300)).toBe(3600);
    expect(clipDnsTtl(86400)).toBe(3600);
    fc.assert(
      fc.property(fc.nat(), (ttl) => {
        const f = fuzzyDnsTtl(ttl);
        const c = clipDnsTtl(ttl);
        expect(f).toBeGreaterThanOrEqual(c - 240);
        expect(f).toBeLessThanOrEqual(c + 240);
      }),
    );
  });

  it('isTransientDnsError', () => {
    expect(isTransientDnsError(errno('EAI_AGAIN'))).toBe(true);
    expect(isTransientDnsError(errno('ESERVFAIL'))).toBe(true);
    expect(isTransientDnsError(errno('ENOTFOUND'))).toBe(false);
    expect(isTransientDnsError(new Error('x'))).toBe(false);
    expect(isTransientDnsError(null)).toBe(false);
  });
});
