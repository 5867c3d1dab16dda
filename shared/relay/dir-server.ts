import { ProtocolError, TelescopeError, type Logger, type Scheduler } from '../util/index.ts';
import type { DirectoryState } from '../directory/index.ts';
import { ConsensusDiffError, generateConsensusDiff } from '../netdoc/index.ts';
import { EndReason } from '../cells/index.ts';
import type { TorStream } from '../stream/index.ts';

/**
 * A directory cache on BEGIN_DIR streams (dir-spec "Directory cache operation"): one HTTP/1.0 GET
 * per stream for the documents a client bootstraps from — the microdesc consensus, authority
 * certificates, microdescriptors — and the relay's own server descriptor, so that a browser can
 * bootstrap entirely through its bridge and tor clients can use the relay as a bridge. Bodies are
 * deflate-compressed when the client asks (Accept-Encoding or a ".z" path).
 *
 * A directory cache is an amplifier if it works per request: a few bytes of GET for 3.5 MB of
 * consensus. So the whole documents (the consensus, all certificates, the own descriptor) are
 * encoded and compressed once per version and every request is served from those shared buffers
 * (DirectoryDocumentCache); a stream whose client stops reading is closed after a while
 * (DIR_STALL_TIMEOUT_MS), and the circuit caps how many directory streams a client may hold
 * (relay-circuit.ts).
 */

export interface DirectoryCacheSource {
  readonly directory: () => DirectoryState;
  /** The relay's signed server descriptor, if it has one. */
  readonly ownDescriptor: () => string | undefined;
  /** Upper-case hex fingerprint of the relay. */
  readonly fingerprint: string;
}

/**
 * Largest request head accepted, as tor's directory caches do (their HTTP header limit, 50,000
 * bytes). It must hold what tor asks a bridge or any cache it reaches over BEGIN_DIR: tunnelled
 * requests carry up to 500 microdescriptor digests (44 bytes each with the dash), about 22 KB of
 * request line. A smaller limit made tor's every microdescriptor batch a 400, and tor then took
 * minutes retrying digest by digest.
 */
export const MAX_DIR_REQUEST_BYTES = 50_000;

export interface DirRequestLine {
  readonly path: string;
  readonly compress: boolean;
  /**
   * Consensuses (SHA3-256 as signed, lower-case hex) the client holds and would take a diff from:
   * from `X-Or-Diff-From-Consensus`, or the one in a `.../consensus-microdesc/diff/HEX` path.
   */
  readonly diffFrom?: readonly string[];
  /** The path form: a diff or nothing (404), never the whole consensus (tor's caches do the same). */
  readonly diffOnly?: true;
}

const CONSENSUS_PATH = '/tor/status-vote/current/consensus-microdesc';
/** Digests read from one X-Or-Diff-From-Consensus header (the request is ≤ 8 KiB anyway). */
const MAX_DIFF_FROM = 8;
const SHA3_HEX = /^[0-9a-fA-F]{64}$/;

/** Read and parse the GET request at the start of a directory stream. */
export function parseDirRequest(raw: string): DirRequestLine {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new ProtocolError('directory request', 'no end of headers');
  const [line, ...headers] = raw.slice(0, end).split('\r\n');
  const m = /^GET (\/[!-~]*) HTTP\/1\.[01]$/.exec(line ?? '');
  if (!m) throw new ProtocolError('directory request', `not a GET request: "${(line ?? '').slice(0, 60)}"`);
  let path = m[1]!;
  let compress = false;
  if (path.endsWith('.z')) {
    path = path.slice(0, -2);
    compress = true;
  }
  let diffFrom: string[] | undefined;
  for (const h of headers) {
    const [name, value] = [h.slice(0, h.indexOf(':')).trim().toLowerCase(), h.slice(h.indexOf(':') + 1)];
    if (name === 'accept-encoding' && /(^|[\s,])deflate([\s,;]|$)/i.test(value)) compress = true;
    // tor reads space-separated digests and ignores malformed ones (Arti separates with ", ").
    if (name === 'x-or-diff-from-consensus') diffFrom = value.split(/[\s,]+/).filter((d) => SHA3_HEX.test(d)).slice(0, MAX_DIFF_FROM).map((d) => d.toLowerCase());
  }
  const diffPrefix = `${CONSENSUS_PATH}/diff/`;
  if (path.startsWith(diffPrefix)) {
    const digest = path.slice(diffPrefix.length).split('/')[0]!;
    if (!SHA3_HEX.test(digest)) throw new ProtocolError('directory request', 'a consensus diff path needs a 64-digit hex SHA3-256 digest');
    return { path: CONSENSUS_PATH, compress, diffFrom: [digest.toLowerCase()], diffOnly: true };
  }
  return { path, compress, ...(diffFrom?.length ? { diffFrom } : {}) };
}

/** The document for `path`, or undefined for 404. */
export function lookupDocument(source: DirectoryCacheSource, path: string): string | undefined {
  const doc = findDocument(source, { path, compress: false });
  return typeof doc === 'object' ? doc.text : undefined;
}

/**
 * A document found for a request. `key` names whole documents that many requests share (their
 * bytes are cached per version); documents assembled for one request (a list of microdescriptors,
 * some certificates) have none and are bounded by the request's size: MAX_DIR_REQUEST_BYTES holds
 * about 1,100 digests, so a few hundred KB of microdescriptors.
 */
interface FoundDocument {
  readonly key: 'consensus' | 'keys/all' | 'own-descriptor' | `diff:${string}` | undefined;
  readonly text: string;
}

/**
 * Consensus diffs from the replaced consensuses the directory keeps to the current one, made once
 * each (tor's caches make them ahead of time; we make one when first asked) and dropped when
 * either end is gone. At most one per kept consensus.
 */
export class ConsensusDiffs {
  private readonly diffs = new Map<string, { to: string; text: string }>();
  /** Diffs generated, and generations that failed, since creation. */
  generated = 0;
  failed = 0;

  constructor(private readonly log?: Logger) {}

  /** A diff from `from` (digest as signed, hex) to the current consensus, if we can make one. */
  diffFrom(dir: DirectoryState, from: string): string | undefined {
    const current = dir.consensusText();
    const to = dir.consensusDigest();
    const base = dir.previousConsensus(from);
    if (!current || !to || !base) return undefined;
    const kept = new Set(dir.previousConsensusDigests());
    for (const [d, diff] of this.diffs) if (diff.to !== to || !kept.has(d)) this.diffs.delete(d);
    const cached = this.diffs.get(base.digest);
    if (cached) return cached.text;
    try {
      const text = generateConsensusDiff(base.text, current);
      this.generated++;
      this.diffs.set(base.digest, { to, text });
      return text;
    } catch (e) {
      if (!(e instanceof ConsensusDiffError)) throw e;
      this.failed++;
      this.log?.warn(`cannot make a consensus diff from ${base.digest}: ${e.message}`);
      return undefined;
    }
  }

  /** Digests (as signed) of the consensuses we hold diffs from now. */
  cachedFrom(): string[] {
    return [...this.diffs.keys()];
  }
}

function findDocument(source: DirectoryCacheSource, req: DirRequestLine, diffs?: ConsensusDiffs): FoundDocument | 'not-modified' | undefined {
  const found = (key: FoundDocument['key'], text: string | undefined): FoundDocument | undefined => (text ? { key, text } : undefined);
  const dir = source.directory();
  const path = req.path;
  if (path === CONSENSUS_PATH || path.startsWith(`${CONSENSUS_PATH}/`)) {
    const current = dir.consensusText();
    if (current && req.diffFrom?.length) {
      // dir-spec: a client that already holds the newest consensus is told so (304).
      if (req.diffFrom.includes(dir.consensusDigest()!)) return 'not-modified';
      for (const from of req.diffFrom) {
        const diff = diffs?.diffFrom(dir, from);
        if (diff) return { key: `diff:${from}`, text: diff };
      }
      if (req.diffOnly) return undefined;
    }
    return found('consensus', current);
  }
  if (path === '/tor/keys/all') return found('keys/all', dir.certificateTexts().map((c) => c.text).join(''));
  if (path.startsWith('/tor/keys/fp/')) {
    const wanted = new Set(path.slice('/tor/keys/fp/'.length).toUpperCase().split('+'));
    return found(undefined, dir.certificateTexts().filter((c) => wanted.has(c.fingerprint)).map((c) => c.text).join(''));
  }
  if (path.startsWith('/tor/keys/fp-sk/')) {
    const wanted = new Set(path.slice('/tor/keys/fp-sk/'.length).toUpperCase().split('+'));
    return found(undefined, dir.certificateTexts().filter((c) => wanted.has(`${c.fingerprint}-${c.signingKeyDigest}`)).map((c) => c.text).join(''));
  }
  if (path.startsWith('/tor/micro/d/')) {
    const texts = dir.microdescTexts(path.slice('/tor/micro/d/'.length).split('-'));
    return found(undefined, texts.join(''));
  }
  if (path === '/tor/server/authority' || path === `/tor/server/fp/${source.fingerprint}`) return found('own-descriptor', source.ownDescriptor());
  return undefined;
}


/** The bytes of one document version, as served: identity, and deflate once someone asked. */
interface CachedDocument {
  readonly version: string;
  readonly identity: Uint8Array;
  deflated: Promise<Uint8Array> | undefined;
}

/**
 * Encoded and compressed bodies of the whole documents, made once per version and shared by every
 * request (tor's directory caches keep their documents precompressed for the same reason). A new
 * version (a new consensus, a new descriptor) replaces the old one under its key, so the cache
 * holds at most one version of each. The counters say how much work requests caused.
 */
export class DirectoryDocumentCache {
  private readonly entries = new Map<string, CachedDocument>();
  /** Documents encoded to bytes, and compressed, since the cache was made. */
  encodes = 0;
  compressions = 0;

  /** The diffs (by base digest) still offered; bodies of others are dropped. */
  constructor(private readonly diffKeys?: () => readonly string[]) {}

  /** The body of `doc`, compressed or not: from the cache for whole documents. */
  body(doc: FoundDocument, compress: boolean): Promise<Uint8Array> {
    if (doc.key === undefined) {
      // Assembled for this request only (bounded by the request's size): nothing to share.
      this.encodes++;
      const bytes = new TextEncoder().encode(doc.text);
      return compress ? this.deflate(bytes) : Promise.resolve(bytes);
    }
    let entry = this.entries.get(doc.key);
    if (!entry || entry.version !== doc.text) {
      this.encodes++;
      entry = { version: doc.text, identity: new TextEncoder().encode(doc.text), deflated: undefined };
      this.entries.set(doc.key, entry);
    }
    // Diffs come and go with the consensuses they join: keep bodies only of those still offered.
    if (doc.key.startsWith('diff:') && this.diffKeys) {
      const live = new Set(this.diffKeys().map((d) => `diff:${d}`));
      for (const key of this.entries.keys()) if (key.startsWith('diff:') && !live.has(key)) this.entries.delete(key);
    }
    if (!compress) return Promise.resolve(entry.identity);
    // Concurrent requests share the one compression in progress.
    entry.deflated ??= this.deflate(entry.identity);
    return entry.deflated;
  }

  private async deflate(bytes: Uint8Array): Promise<Uint8Array> {
    this.compressions++;
    const stream = new Blob([bytes.slice()]).stream().pipeThrough(new CompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
}

/**
 * How long a directory stream may make no progress (no request bytes arriving, no response bytes
 * leaving because the client reads nothing and sends no SENDME) before it is closed. tor closes
 * stalled directory connections too; a minute is ample for an honest client even on a slow link,
 * since a window's worth of cells is always on its way.
 */
export const DIR_STALL_TIMEOUT_MS = 60_000;

export interface DirectoryServerOptions {
  /** Timer for the stall check (tests pass a fake clock's). Default: setTimeout. */
  readonly schedule?: Scheduler;
  readonly stallTimeoutMs?: number;
  /** The cache to serve from (one per relay); a new one by default. */
  readonly cache?: DirectoryDocumentCache;
}

const defaultScheduler: Scheduler = (fn, ms) => {
  const id = globalThis.setTimeout(fn, ms);
  return () => globalThis.clearTimeout(id);
};

/** A relay's directory service: one GET per BEGIN_DIR stream, served from the shared cache. */
export class DirectoryServer {
  readonly cache: DirectoryDocumentCache;
  readonly diffs: ConsensusDiffs;
  /** Consensus diffs served, and 304s to clients that already held the newest consensus. */
  diffsServed = 0;
  notModified = 0;
  private readonly schedule: Scheduler;
  private readonly stallTimeoutMs: number;
  /** Streams closed because their client stopped reading (or never sent a request). */
  stalledStreams = 0;

  constructor(private readonly source: DirectoryCacheSource, private readonly log: Logger, opts: DirectoryServerOptions = {}) {
    this.diffs = new ConsensusDiffs(log);
    this.cache = opts.cache ?? new DirectoryDocumentCache(() => this.diffs.cachedFrom());
    this.schedule = opts.schedule ?? defaultScheduler;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? DIR_STALL_TIMEOUT_MS;
  }

  /** Serve one request on a BEGIN_DIR stream, then close it. Never throws for the peer's doing. */
  async serve(stream: TorStream): Promise<void> {
    const stopWatching = this.watchForStall(stream);
    try {
      await this.answer(stream);
    } finally {
      stopWatching();
    }
  }

  /** Close `stream` once a stall timeout passes with no byte moving either way. */
  private watchForStall(stream: TorStream): () => void {
    const progress = () => stream.bytesRead + stream.bytesWritten;
    let seen = progress();
    let cancel = () => {};
    const check = () => {
      if (!stream.isOpen) return;
      const now = progress();
      if (now !== seen) {
        seen = now;
        cancel = this.schedule(check, this.stallTimeoutMs);
        return;
      }
      this.stalledStreams++;
      this.log.info(`directory stream ${stream.streamId}: no progress for ${this.stallTimeoutMs / 1000} s; closing it`);
      stream.close(EndReason.TIMEOUT);
    };
    cancel = this.schedule(check, this.stallTimeoutMs);
    return () => cancel();
  }

  private async answer(stream: TorStream): Promise<void> {
    try {
      let raw = '';
      while (!raw.includes('\r\n\r\n')) {
        const chunk = await stream.read();
        if (!chunk) return;
        raw += new TextDecoder('latin1').decode(chunk);
        if (raw.length > MAX_DIR_REQUEST_BYTES) throw new ProtocolError('directory request', `request over ${MAX_DIR_REQUEST_BYTES} bytes`);
      }
      const req = parseDirRequest(raw);
      const doc = findDocument(this.source, req, this.diffs);
      const date = new Date().toUTCString();
      if (doc === undefined) {
        await stream.write(new TextEncoder().encode(`HTTP/1.0 404 Not found\r\nDate: ${date}\r\n\r\n`));
      } else if (doc === 'not-modified') {
        this.notModified++;
        await stream.write(new TextEncoder().encode(`HTTP/1.0 304 Not modified\r\nDate: ${date}\r\n\r\n`));
      } else {
        if (doc.key?.startsWith('diff:')) {
          this.diffsServed++;
          this.log.info(`serving a consensus diff from ${doc.key.slice('diff:'.length)} (${doc.text.length} bytes; diffs served: ${this.diffsServed})`);
        }
        const body = await this.cache.body(doc, req.compress);
        const head = `HTTP/1.0 200 OK\r\nDate: ${date}\r\nContent-Type: text/plain\r\nContent-Encoding: ${req.compress ? 'deflate' : 'identity'}\r\n\r\n`;
        await stream.write(new TextEncoder().encode(head));
        await stream.write(body);
      }
      stream.close();
    } catch (e) {
      if (!(e instanceof TelescopeError)) throw e;
      this.log.info(`directory request refused: ${e.message}`);
      if (e instanceof ProtocolError && stream.isOpen) {
        try {
          await stream.write(new TextEncoder().encode('HTTP/1.0 400 Bad request\r\n\r\n'));
        } catch (writeError) {
          this.log.debug(`could not answer 400: ${writeError instanceof Error ? writeError.message : String(writeError)}`);
        }
      }
      stream.close();
    }
  }
}
