import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, StreamError, TelescopeError, silentLogger } from '../util/index.ts';
import { applyConsensusDiff, consensusDigestAsSigned, looksLikeConsensusDiff, parseAuthCerts, parseConsensus, parseMicrodescs } from '../netdoc/index.ts';
import { syntheticDirectory } from '../netdoc/fixtures/synthetic-directory.ts';
import { toHex } from '../bytes/index.ts';
import { DirectoryState } from '../directory/index.ts';
import type { TorStream } from '../stream/index.ts';
import { ConsensusDiffs, DIR_STALL_TIMEOUT_MS, DirectoryServer, MAX_DIR_REQUEST_BYTES, lookupDocument, parseDirRequest, type DirectoryCacheSource } from './dir-server.ts';
import { EndReason } from '../cells/index.ts';
import { FakeTime } from '../testing/fake-time.ts';
import td2Consensus from '../netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../netdoc/fixtures/testdata2/cached-certs.txt?raw';
import td2Microdescs from '../netdoc/fixtures/testdata2/cached-microdescs.txt?raw';
import { thrown } from '../testing/thrown.ts';

/**
 * The relay's directory cache: request parsing, document lookup on a DirectoryState loaded from
 * a tor 0.4.9 test network's documents (fixtures/testdata2, as bootstrap.test.ts loads them), and
 * one request per BEGIN_DIR stream over a stand-in for TorStream.
 */

const CONSENSUS = '/tor/status-vote/current/consensus-microdesc';
const td2Now = new Date('2000-01-01T00:02:30Z');
const td2CertList = parseAuthCerts(td2Certs);
const td2Auths = td2CertList.map((c) => ({ fingerprint: c.unchecked.fingerprint }));
const td2Mds = parseMicrodescs(td2Microdescs);
const td2Digests = parseConsensus(td2Consensus).unchecked.routers.map((r) => r.microdescDigestBase64);
const OWN_FP = 'A'.repeat(40);
const OWN_DESCRIPTOR = 'router test 127.0.0.1 9001 0 0\nrouter-signature\n';

function readyState(): DirectoryState {
  const s = new DirectoryState(td2Auths, { random: () => 0 });
  expect(s.addCerts(td2Certs, td2Now)).toBe(4);
  expect(s.addConsensus(td2Consensus, td2Now)).toBe('accepted');
  s.nextRequests(td2Now);
  expect(s.addMicrodescs(td2Microdescs)).toEqual({ added: 7, unknown: 0 });
  return s;
}

const state = readyState();
const source: DirectoryCacheSource = { directory: () => state, ownDescriptor: () => OWN_DESCRIPTOR, fingerprint: OWN_FP };
const certs = state.certificateTexts();
const req = (line: string, ...headers: string[]) => [line, ...headers].join('\r\n') + '\r\n\r\n';

describe('parseDirRequest', () => {
  it('reads the path of a GET line, HTTP/1.0 or 1.1', () => {
    expect(parseDirRequest(req(`GET ${CONSENSUS} HTTP/1.0`))).toEqual({ path: CONSENSUS, compress: false });
    expect(parseDirRequest(req('GET /tor/keys/all HTTP/1.1', 'Host: 127.0.0.1'))).toEqual({ path: '/tor/keys/all', compress: false });
  });

  it('a ".z" suffix asks for deflate and is not part of the path', () => {
    expect(parseDirRequest(req(`GET ${CONSENSUS}.z HTTP/1.0`))).toEqual({ path: CONSENSUS, compress: true });
    expect(parseDirRequest(req('GET /tor/micro/d/abc-def.z HTTP/1.0'))).toEqual({ path: '/tor/micro/d/abc-def', compress: true });
  });

  it('Accept-Encoding with deflate (any case, in a list, with a q-value) asks for deflate', () => {
    for (const value of ['deflate', 'DEFLATE', 'gzip, deflate', 'x-tor-lzma,deflate', 'deflate;q=1.0, identity', ' deflate ']) {
      expect(parseDirRequest(req('GET /tor/keys/all HTTP/1.0', `Accept-Encoding: ${value}`)).compress, value).toBe(true);
    }
    expect(parseDirRequest(req('GET /tor/keys/all HTTP/1.0', 'accept-encoding: deflate')).compress).toBe(true);
    for (const value of ['identity', 'gzip', 'x-deflate', 'deflated', 'nodeflate', '']) {
      expect(parseDirRequest(req('GET /tor/keys/all HTTP/1.0', `Accept-Encoding: ${value}`)).compress, value).toBe(false);
    }
    // Other headers that mention deflate do not count.
    expect(parseDirRequest(req('GET /tor/keys/all HTTP/1.0', 'X-Note: deflate', 'Header-without-colon deflate')).compress).toBe(false);
  });

  it('refuses what is not a complete GET request with ProtocolError', () => {
    const bad = [
      'GET /tor/keys/all HTTP/1.0\r\n', // headers not finished
      req('POST /tor/keys/all HTTP/1.0'),
      req('GET /tor/keys/all HTTP/2'),
      req('GET /tor/keys/all'),
      req('GET tor/keys/all HTTP/1.0'),
      req('GET /tor/keys all HTTP/1.0'),
      req('get /tor/keys/all HTTP/1.0'),
      req(''),
      req('GET /tor/\u00e9 HTTP/1.0'),
    ];
    for (const raw of bad) {
      const e = thrown(() => parseDirRequest(raw));
      expect(e, JSON.stringify(raw)).toBeInstanceOf(ProtocolError);
    }
  });

  it('random text gives a request or ProtocolError, never another exception (property)', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.tuple(fc.constantFrom('GET ', 'GET /', 'POST /', ''), fc.string({ maxLength: 80 }), fc.constantFrom(' HTTP/1.0', ' HTTP/1.1', ''), fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }), fc.constantFrom('\r\n\r\n', '\r\n', ''))
        .map(([a, b, c, h, end]) => `${a}${b}${c}${h.map((x) => `\r\n${x}`).join('')}${end}`),
    );
    fc.assert(
      fc.property(text, (raw) => {
        try {
          const r = parseDirRequest(raw);
          expect(r.path.startsWith('/')).toBe(true);
          expect(r.path.endsWith('.z')).toBe(false);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('lookupDocument', () => {
  it('serves the consensus with and without the /FP+FP suffix', () => {
    expect(lookupDocument(source, CONSENSUS)).toBe(td2Consensus);
    const fps = td2Auths.map((a) => a.fingerprint.slice(0, 6)).join('+');
    expect(lookupDocument(source, `${CONSENSUS}/${fps}`)).toBe(td2Consensus);
    // The full (non-microdesc) consensus is not what we cache.
    expect(lookupDocument(source, '/tor/status-vote/current/consensus')).toBeUndefined();
    expect(lookupDocument(source, `${CONSENSUS}-extra`)).toBeUndefined();
  });

  it('/tor/keys/all gives every certificate', () => {
    const all = lookupDocument(source, '/tor/keys/all')!;
    expect(parseAuthCerts(all).map((c) => c.unchecked.fingerprint).sort()).toEqual(td2CertList.map((c) => c.unchecked.fingerprint).sort());
  });

  it('/tor/keys/fp/ gives the certificates of the named authorities (any case, + separated)', () => {
    const [a, b] = certs as [(typeof certs)[0], (typeof certs)[0]];
    expect(lookupDocument(source, `/tor/keys/fp/${a.fingerprint}`)).toBe(a.text);
    expect(lookupDocument(source, `/tor/keys/fp/${a.fingerprint.toLowerCase()}`)).toBe(a.text);
    const two = lookupDocument(source, `/tor/keys/fp/${a.fingerprint}+${b.fingerprint}`)!;
    expect(parseAuthCerts(two).map((c) => c.unchecked.fingerprint).sort()).toEqual([a.fingerprint, b.fingerprint].sort());
    expect(lookupDocument(source, `/tor/keys/fp/${'0'.repeat(40)}`)).toBeUndefined();
    expect(lookupDocument(source, `/tor/keys/fp/${'0'.repeat(40)}+${a.fingerprint}`)).toBe(a.text);
  });

  it('/tor/keys/fp-sk/ gives the certificates for fingerprint-signing key pairs', () => {
    const [a, b] = certs as [(typeof certs)[0], (typeof certs)[0]];
    expect(lookupDocument(source, `/tor/keys/fp-sk/${a.fingerprint}-${a.signingKeyDigest}`)).toBe(a.text);
    expect(lookupDocument(source, `/tor/keys/fp-sk/${a.fingerprint.toLowerCase()}-${a.signingKeyDigest.toLowerCase()}`)).toBe(a.text);
    const two = lookupDocument(source, `/tor/keys/fp-sk/${a.fingerprint}-${a.signingKeyDigest}+${b.fingerprint}-${b.signingKeyDigest}`)!;
    expect(parseAuthCerts(two).length).toBe(2);
    // The right authority with another signing key is not a match.
    expect(lookupDocument(source, `/tor/keys/fp-sk/${a.fingerprint}-${b.signingKeyDigest}`)).toBeUndefined();
    expect(lookupDocument(source, `/tor/keys/fp-sk/${a.fingerprint}`)).toBeUndefined();
  });

  it('/tor/micro/d/ gives the microdescriptors it holds, in the order asked, and 404 when it holds none', () => {
    const [d0, d1, d2] = td2Digests as [string, string, string];
    const text = (d: string) => td2Mds.find((m) => m.digestBase64 === d)!.text;
    expect(lookupDocument(source, `/tor/micro/d/${d0}`)).toBe(text(d0));
    expect(lookupDocument(source, `/tor/micro/d/${d2}-${d1}`)).toBe(text(d2) + text(d1));
    const unknown = 'A'.repeat(43);
    expect(lookupDocument(source, `/tor/micro/d/${unknown}-${d0}`)).toBe(text(d0));
    expect(lookupDocument(source, `/tor/micro/d/${unknown}`)).toBeUndefined();
    expect(lookupDocument(source, '/tor/micro/d/')).toBeUndefined();
    // Every microdescriptor at once parses back to the same set.
    const all = lookupDocument(source, `/tor/micro/d/${td2Digests.join('-')}`)!;
    expect(parseMicrodescs(all).map((m) => m.digestBase64).sort()).toEqual([...td2Digests].sort());
  });

  it('/tor/server/authority and /tor/server/fp/<own fingerprint> give the relay\'s descriptor', () => {
    expect(lookupDocument(source, '/tor/server/authority')).toBe(OWN_DESCRIPTOR);
    expect(lookupDocument(source, `/tor/server/fp/${OWN_FP}`)).toBe(OWN_DESCRIPTOR);
    expect(lookupDocument(source, `/tor/server/fp/${'B'.repeat(40)}`)).toBeUndefined();
    const none: DirectoryCacheSource = { ...source, ownDescriptor: () => undefined };
    expect(lookupDocument(none, '/tor/server/authority')).toBeUndefined();
  });

  it('anything else is 404 (undefined)', () => {
    for (const path of ['/', '/tor', '/tor/keys', '/tor/keys/', '/tor/micro', '/tor/server/all', '/robots.txt', '/tor/status-vote/next/consensus-microdesc']) {
      expect(lookupDocument(source, path), path).toBeUndefined();
    }
  });

  it('a cache without a consensus or certificates has nothing to give', () => {
    const empty: DirectoryCacheSource = { ...source, directory: () => new DirectoryState(td2Auths) };
    expect(lookupDocument(empty, CONSENSUS)).toBeUndefined();
    expect(lookupDocument(empty, '/tor/keys/all')).toBeUndefined();
    expect(lookupDocument(empty, `/tor/keys/fp/${certs[0]!.fingerprint}`)).toBeUndefined();
    expect(lookupDocument(empty, `/tor/micro/d/${td2Digests[0]}`)).toBeUndefined();
  });

  it('never throws on random paths (property)', () => {
    const prefix = fc.constantFrom('/', '/tor/keys/fp/', '/tor/keys/fp-sk/', '/tor/micro/d/', `${CONSENSUS}/`, '/tor/server/fp/', '/tor/keys/all');
    fc.assert(
      fc.property(prefix, fc.string({ maxLength: 120 }), (p, rest) => {
        const doc = lookupDocument(source, p + rest);
        if (doc !== undefined) expect(doc.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

/** Enough of a TorStream for the directory server: scripted reads, recorded writes. */
class FakeStream {
  readonly written: Uint8Array[] = [];
  closed = false;
  closeReason: number | undefined;
  readonly streamId = 7;
  bytesRead = 0;
  bytesWritten = 0;
  private readonly incoming: (Uint8Array | null | Error)[];
  /** Writes held while the client "reads nothing"; close() fails them, as TorStream does. */
  private readonly held: (() => void)[] = [];

  constructor(request: string | Uint8Array[], opts: { end?: boolean; failRead?: Error; clientReads?: boolean } = {}) {
    const chunks = typeof request === 'string' ? [new TextEncoder().encode(request)] : request;
    this.incoming = [...chunks, ...(opts.failRead ? [opts.failRead] : []), ...(opts.end === false ? [] : [null])];
    this.clientReads = opts.clientReads ?? true;
  }

  private readonly clientReads: boolean;

  get isOpen(): boolean {
    return !this.closed;
  }

  async read(): Promise<Uint8Array | null> {
    const next = this.incoming.shift();
    if (next instanceof Error) throw next;
    if (next === undefined) {
      // The client waits forever (until the stream is closed under it).
      await new Promise<void>((resolve) => this.held.push(resolve));
      throw new StreamError('stream is closed');
    }
    if (next) this.bytesRead += next.length;
    return next;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new StreamError('stream is closed');
    if (!this.clientReads) {
      await new Promise<void>((resolve) => this.held.push(resolve));
      throw new StreamError('stream is closed');
    }
    this.written.push(data.slice());
    this.bytesWritten += data.length;
  }

  close(reason?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    for (const h of this.held.splice(0)) h();
  }

  asStream(): TorStream {
    return this as unknown as TorStream;
  }

  /** Everything written, split into the head (as text) and the body bytes. */
  response(): { status: number; head: string; body: Uint8Array } {
    const all = new Uint8Array(this.written.reduce((n, w) => n + w.length, 0));
    let pos = 0;
    for (const w of this.written) {
      all.set(w, pos);
      pos += w.length;
    }
    const text = new TextDecoder('latin1').decode(all);
    const end = text.indexOf('\r\n\r\n');
    expect(end).toBeGreaterThan(0);
    const head = text.slice(0, end);
    const m = /^HTTP\/1\.0 (\d{3}) /.exec(head);
    expect(m, head).not.toBeNull();
    return { status: Number(m![1]), head, body: all.subarray(end + 4) };
  }
}

async function inflate(data: Uint8Array): Promise<string> {
  const stream = new Blob([data.slice()]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new TextDecoder().decode(await new Response(stream).arrayBuffer());
}

async function serve(stream: FakeStream, src: DirectoryCacheSource = source): Promise<void> {
  await new DirectoryServer(src, silentLogger).serve(stream.asStream());
}

describe('DirectoryServer', () => {
  it('answers 200 with the document as identity, then closes the stream', async () => {
    const s = new FakeStream(req(`GET ${CONSENSUS} HTTP/1.0`), { end: false });
    await serve(s);
    const r = s.response();
    expect(r.status).toBe(200);
    expect(r.head).toContain('Content-Encoding: identity');
    expect(r.head).toMatch(/\r\nDate: .+ GMT/);
    expect(new TextDecoder().decode(r.body)).toBe(td2Consensus);
    expect(s.closed).toBe(true);
  });

  it('answers 200 with a deflate body for ".z" and for Accept-Encoding: deflate', async () => {
    for (const request of [req(`GET ${CONSENSUS}.z HTTP/1.0`), req(`GET ${CONSENSUS} HTTP/1.0`, 'Accept-Encoding: deflate, identity')]) {
      const s = new FakeStream(request, { end: false });
      await serve(s);
      const r = s.response();
      expect(r.status).toBe(200);
      expect(r.head).toContain('Content-Encoding: deflate');
      expect(r.body.length).toBeLessThan(td2Consensus.length);
      expect(await inflate(r.body)).toBe(td2Consensus);
      expect(s.closed).toBe(true);
    }
  });

  it('reads a request split across many chunks', async () => {
    const bytes = new TextEncoder().encode(req('GET /tor/keys/all HTTP/1.0', 'Host: x'));
    const s = new FakeStream([...bytes].map((b) => Uint8Array.of(b)), { end: false });
    await serve(s);
    expect(s.response().status).toBe(200);
    expect(parseAuthCerts(new TextDecoder().decode(s.response().body)).length).toBe(4);
  });

  it('answers a batch of 500 microdescriptor digests, as tor asks a cache it tunnels to (a 22 KB request line, in cells)', async () => {
    // tor asks for up to 500 microdescriptors per request over BEGIN_DIR: the digests it wants,
    // the ones this cache holds among them, deflated as the ".z" asks.
    const unknown = Array.from({ length: 500 - td2Digests.length }, (_, i) => i.toString(36).padStart(43, 'A'));
    const line = req(`GET /tor/micro/d/${[...unknown, ...td2Digests].join('-')}.z HTTP/1.0`, 'Accept-Encoding: deflate, identity, gzip, x-zstd, x-tor-lzma');
    expect(line.length).toBeGreaterThan(22_000);
    const bytes = new TextEncoder().encode(line);
    const cells = Array.from({ length: Math.ceil(bytes.length / 498) }, (_, i) => bytes.subarray(i * 498, (i + 1) * 498));
    const s = new FakeStream(cells, { end: false });
    await serve(s);
    const r = s.response();
    expect(r.status).toBe(200);
    expect(r.head).toContain('Content-Encoding: deflate');
    expect(parseMicrodescs(await inflate(r.body)).map((m) => m.digestBase64)).toEqual(td2Digests);
  });

  it('answers 404 for what it does not have', async () => {
    const s = new FakeStream(req('GET /tor/server/all HTTP/1.0'), { end: false });
    await serve(s);
    expect(s.response().status).toBe(404);
    expect(s.response().body.length).toBe(0);
    expect(s.closed).toBe(true);
  });

  it('answers 400 to garbage and to requests that never end within MAX_DIR_REQUEST_BYTES', async () => {
    const garbage = new FakeStream('HELLO THERE\r\n\r\n', { end: false });
    await serve(garbage);
    expect(garbage.response().status).toBe(400);
    expect(garbage.closed).toBe(true);
    const endless = new FakeStream([new TextEncoder().encode(`GET /${'a'.repeat(MAX_DIR_REQUEST_BYTES + 1)}`)], { end: false });
    await serve(endless);
    expect(endless.response().status).toBe(400);
    expect(endless.closed).toBe(true);
  });

  it('a stream that ends before the request is complete gets no answer', async () => {
    const s = new FakeStream('GET /tor/keys/all HTTP/1.0\r\n');
    await serve(s);
    expect(s.written).toEqual([]);
  });

  it('a stream whose circuit dies is closed without an answer', async () => {
    const s = new FakeStream([new TextEncoder().encode('GET /tor')], { end: false, failRead: new StreamError('circuit destroyed') });
    await serve(s);
    expect(s.written).toEqual([]);
    expect(s.closed).toBe(true);
  });

  it('random request bytes give 200, 400 or 404, never an exception (property)', async () => {
    const request = fc.oneof(
      fc.string({ maxLength: 300 }).map((t) => `${t}\r\n\r\n`),
      fc.uint8Array({ maxLength: 300 }).map((b) => new TextDecoder('latin1').decode(b) + '\r\n\r\n'),
      fc.tuple(fc.constantFrom('/', '/tor/keys/fp/', '/tor/micro/d/', `${CONSENSUS}/`, '/tor/'), fc.stringMatching(/^[!-~]{0,60}$/)).map(([p, r]) => req(`GET ${p}${r} HTTP/1.0`)),
    );
    await fc.assert(
      fc.asyncProperty(request, async (raw) => {
        const s = new FakeStream([new TextEncoder().encode(raw)], { end: false });
        try {
          await serve(s);
        } catch (e) {
          expect.unreachable(`DirectoryServer.serve threw ${e instanceof TelescopeError ? 'a TelescopeError' : 'an exception'}: ${String(e)}`);
        }
        expect([200, 400, 404]).toContain(s.response().status);
        expect(s.closed).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

/** A directory whose consensus text the test swaps (only what the server reads of it). */
function swappableSource(): { source: DirectoryCacheSource; setConsensus(text: string): void } {
  let consensus = td2Consensus;
  const dir = { consensusText: () => consensus, certificateTexts: () => state.certificateTexts(), microdescTexts: (d: readonly string[]) => state.microdescTexts(d) } as unknown as DirectoryState;
  return { source: { directory: () => dir, ownDescriptor: () => OWN_DESCRIPTOR, fingerprint: OWN_FP }, setConsensus: (t) => { consensus = t; } };
}

describe('DirectoryServer: no work per request for whole documents', () => {
  it('encodes and compresses the consensus once per version, however many requests ask for it', async () => {
    const { source: src, setConsensus } = swappableSource();
    const server = new DirectoryServer(src, silentLogger);
    const ask = async (compressed: boolean) => {
      const s = new FakeStream(req(`GET ${CONSENSUS}${compressed ? '.z' : ''} HTTP/1.0`), { end: false });
      await server.serve(s.asStream());
      return s.response();
    };
    // Concurrent requests too: they share the compression in progress.
    const answers = await Promise.all([ask(true), ask(false), ask(true), ask(true), ask(false), ask(true)]);
    for (const a of answers) expect(a.status).toBe(200);
    expect(await inflate(answers[0]!.body)).toBe(td2Consensus);
    for (let i = 0; i < 20; i++) await ask(i % 2 === 0);
    expect(server.cache.encodes).toBe(1);
    expect(server.cache.compressions).toBe(1);

    // A new consensus replaces the cached one: one more encoding and compression, then none.
    const newer = td2Consensus.replace('valid-after', 'valid-after') + '\n';
    setConsensus(newer);
    const z = await ask(true);
    expect(await inflate(z.body)).toBe(newer);
    expect(new TextDecoder().decode((await ask(false)).body)).toBe(newer);
    for (let i = 0; i < 10; i++) await ask(i % 2 === 0);
    expect(server.cache.encodes).toBe(2);
    expect(server.cache.compressions).toBe(2);
  });

  it('the relay descriptor and /tor/keys/all are cached the same way', async () => {
    const server = new DirectoryServer(source, silentLogger);
    for (let i = 0; i < 10; i++) {
      for (const path of ['/tor/server/authority.z', '/tor/keys/all.z']) {
        const s = new FakeStream(req(`GET ${path} HTTP/1.0`), { end: false });
        await server.serve(s.asStream());
        expect(s.response().status).toBe(200);
      }
    }
    expect(server.cache.encodes).toBe(2);
    expect(server.cache.compressions).toBe(2);
  });
});

describe('DirectoryServer: stalled streams are closed', () => {
  it('a client that reads nothing loses its stream after the stall timeout (END TIMEOUT)', async () => {
    const time = new FakeTime();
    const server = new DirectoryServer(source, silentLogger, { schedule: time.schedule });
    const s = new FakeStream(req(`GET ${CONSENSUS} HTTP/1.0`), { end: false, clientReads: false });
    const serving = server.serve(s.asStream());
    await new Promise((r) => setTimeout(r, 0));
    // The request arrived during the first period (progress); the response never moves.
    time.advance(DIR_STALL_TIMEOUT_MS);
    expect(s.closed).toBe(false);
    time.advance(DIR_STALL_TIMEOUT_MS - 1);
    expect(s.closed).toBe(false);
    time.advance(1);
    expect(s.closed).toBe(true);
    expect(s.closeReason).toBe(EndReason.TIMEOUT);
    await serving;
    expect(server.stalledStreams).toBe(1);
    expect(time.pendingTimers).toBe(0);
  });

  it('a stream that never gets its request is closed too', async () => {
    const time = new FakeTime();
    const server = new DirectoryServer(source, silentLogger, { schedule: time.schedule, stallTimeoutMs: 5_000 });
    const s = new FakeStream('GET /tor/keys/all HTT', { end: false });
    const serving = server.serve(s.asStream());
    await new Promise((r) => setTimeout(r, 0));
    time.advance(5_000); // part of a request arrived in this period
    expect(s.closed).toBe(false);
    time.advance(5_000);
    expect(s.closeReason).toBe(EndReason.TIMEOUT);
    await serving;
    expect(s.written).toEqual([]);
  });

  it('a slow client that keeps reading is not closed: only no progress for a whole timeout counts', async () => {
    const time = new FakeTime();
    const server = new DirectoryServer(source, silentLogger, { schedule: time.schedule, stallTimeoutMs: 10_000 });
    const s = new FakeStream(req(`GET ${CONSENSUS} HTTP/1.0`), { end: false, clientReads: false });
    const serving = server.serve(s.asStream());
    await new Promise((r) => setTimeout(r, 0));
    for (let i = 0; i < 5; i++) {
      time.advance(9_000);
      s.bytesWritten += 498; // a cell left: the client sent a SENDME
      time.advance(1_000);
      expect(s.closed).toBe(false);
    }
    time.advance(10_000);
    time.advance(10_000);
    expect(s.closeReason).toBe(EndReason.TIMEOUT);
    await serving;
  });

  it('a stream answered in time leaves no timer behind', async () => {
    const time = new FakeTime();
    const server = new DirectoryServer(source, silentLogger, { schedule: time.schedule });
    const s = new FakeStream(req('GET /tor/keys/all HTTP/1.0'), { end: false });
    await server.serve(s.asStream());
    expect(s.response().status).toBe(200);
    expect(time.pendingTimers).toBe(0);
    expect(server.stalledStreams).toBe(0);
  });
});

describe('DirectoryServer: consensus diffs', () => {
  const first = syntheticDirectory(20);
  const next = syntheticDirectory(18, new Date(first.validAfter.getTime() + 3600_000));
  const third = syntheticDirectory(19, new Date(first.validAfter.getTime() + 7200_000));
  const during = (d: { validAfter: Date }) => new Date(d.validAfter.getTime() + 60_000);
  const digestOf = (text: string) => toHex(consensusDigestAsSigned(text));

  /** A cache that held `first`, then `next`, and now serves `third`, keeping two old ones. */
  function cacheWithHistory(): DirectoryServer {
    const dir = new DirectoryState(first.authorities, { random: () => 0, keepPreviousConsensuses: 2 });
    dir.addCerts(first.cert, during(first));
    for (const d of [first, next, third]) expect(dir.addConsensus(d.consensus, during(d))).toBe('accepted');
    return new DirectoryServer({ directory: () => dir, ownDescriptor: () => undefined, fingerprint: OWN_FP }, silentLogger);
  }

  async function ask(server: DirectoryServer, request: string) {
    const s = new FakeStream(request, { end: false });
    await server.serve(s.asStream());
    return s.response();
  }

  it('reads X-Or-Diff-From-Consensus (space or comma separated, malformed digests ignored) and the /diff/ path', () => {
    const a = 'a'.repeat(64), b = 'B'.repeat(64);
    expect(parseDirRequest(req(`GET ${CONSENSUS}.z HTTP/1.0`, `X-Or-Diff-From-Consensus: ${a} xyz ${b}`))).toEqual({ path: CONSENSUS, compress: true, diffFrom: [a, b.toLowerCase()] });
    expect(parseDirRequest(req(`GET ${CONSENSUS} HTTP/1.0`, `x-or-diff-from-consensus: ${a}, ${b}`)).diffFrom).toEqual([a, b.toLowerCase()]);
    expect(parseDirRequest(req(`GET ${CONSENSUS} HTTP/1.0`, `X-Or-Diff-From-Consensus: ${Array(20).fill(a).join(' ')}`)).diffFrom).toHaveLength(8);
    expect(parseDirRequest(req(`GET ${CONSENSUS}/diff/${b}/AAAA+BBBB.z HTTP/1.0`))).toEqual({ path: CONSENSUS, compress: true, diffFrom: [b.toLowerCase()], diffOnly: true });
    expect(thrown(() => parseDirRequest(req(`GET ${CONSENSUS}/diff/nothex HTTP/1.0`)))).toBeInstanceOf(ProtocolError);
  });

  it('answers a client holding an older consensus with a compressed diff that turns it into the current one', async () => {
    const server = cacheWithHistory();
    for (const old of [first, next]) {
      const r = await ask(server, req(`GET ${CONSENSUS}.z HTTP/1.0`, `X-Or-Diff-From-Consensus: ${digestOf(old.consensus).toUpperCase()}`));
      expect(r.status).toBe(200);
      expect(r.head).toContain('Content-Encoding: deflate');
      const diff = await inflate(r.body);
      expect(looksLikeConsensusDiff(diff)).toBe(true);
      expect(applyConsensusDiff(old.consensus, diff)).toBe(third.consensus);
    }
    expect(server.diffsServed).toBe(2);
    // The path form too.
    const viaPath = await ask(server, req(`GET ${CONSENSUS}/diff/${digestOf(next.consensus)} HTTP/1.0`));
    expect(applyConsensusDiff(next.consensus, new TextDecoder().decode(viaPath.body))).toBe(third.consensus);
  });

  it('makes and compresses each diff once, however many clients ask', async () => {
    const server = cacheWithHistory();
    const request = req(`GET ${CONSENSUS}.z HTTP/1.0`, `X-Or-Diff-From-Consensus: ${digestOf(first.consensus)}`);
    await Promise.all([ask(server, request), ask(server, request), ask(server, request)]);
    for (let i = 0; i < 5; i++) await ask(server, request);
    expect(server.diffs.generated).toBe(1);
    expect(server.cache.compressions).toBe(1);
    expect(server.diffsServed).toBe(8);
  });

  it('304 to a client that holds the current consensus; the whole consensus for an unknown one; 404 for an unknown one by path', async () => {
    const server = cacheWithHistory();
    expect((await ask(server, req(`GET ${CONSENSUS} HTTP/1.0`, `X-Or-Diff-From-Consensus: ${digestOf(third.consensus)}`))).status).toBe(304);
    expect(server.notModified).toBe(1);
    const unknown = 'c'.repeat(64);
    const whole = await ask(server, req(`GET ${CONSENSUS} HTTP/1.0`, `X-Or-Diff-From-Consensus: ${unknown}`));
    expect(new TextDecoder().decode(whole.body)).toBe(third.consensus);
    expect((await ask(server, req(`GET ${CONSENSUS}/diff/${unknown} HTTP/1.0`))).status).toBe(404);
    expect(server.diffsServed).toBe(0);
  });

  it('keeps no diffs from consensuses it no longer holds', () => {
    const dir = new DirectoryState(first.authorities, { random: () => 0, keepPreviousConsensuses: 1 });
    dir.addCerts(first.cert, during(first));
    const diffs = new ConsensusDiffs();
    dir.addConsensus(first.consensus, during(first));
    dir.addConsensus(next.consensus, during(next));
    expect(diffs.diffFrom(dir, digestOf(first.consensus))).toBeDefined();
    expect(diffs.cachedFrom()).toEqual([digestOf(first.consensus)]);
    dir.addConsensus(third.consensus, during(third));
    expect(diffs.diffFrom(dir, digestOf(first.consensus))).toBeUndefined();
    expect(diffs.diffFrom(dir, digestOf(next.consensus))).toBeDefined();
    expect(diffs.cachedFrom()).toEqual([digestOf(next.consensus)]);
  });
});
