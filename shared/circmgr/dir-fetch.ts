import { parseIp } from '../addr/index.ts';
import { fromHex, toHex } from '../bytes/index.ts';
import { Circuit, type CircuitOptions, type RelayTarget } from '../circuit/index.ts';
import type { DirAuthority, FallbackDir } from '../directory/index.ts';
import type { NetDir, NetRelay } from '../netdir/index.ts';
import type { GuardManager } from '../path/index.ts';
import { TelescopeError, UsageError, silentLogger, type Logger } from '../util/index.ts';
import { bridgeTarget, type BridgeInfo } from './bridges.ts';
import type { ChannelPool } from './channel-pool.ts';
import { dirGet, type DirRequestHeaders } from './dir-http.ts';
import { firstContact, type FirstContactOptions, type FirstContactSource } from './first-contact.ts';

/**
 * A directory cache microdescriptor requests can be spread over: a relay reached over a one-hop
 * BEGIN_DIR circuit of its own (a bridge or a directory guard), or, at a first bootstrap, the
 * source the first contact found (the only one known before any relay's keys are).
 */
export type DirCache =
  | { readonly kind: 'relay'; readonly id: string; readonly target: RelayTarget }
  | { readonly kind: 'first-contact'; readonly id: string };

/** Where directory documents come from: a bridge, a guard, or the network's first contact. */
type DirSource = { readonly kind: 'bridge'; readonly target: RelayTarget } | { readonly kind: 'guard' } | { readonly kind: 'first-contact' };

export interface DirectoryFetcherOptions {
  readonly pool: ChannelPool;
  readonly guards: GuardManager;
  /** The network view guards are picked from; undefined until the directory is ready. */
  readonly netDir: () => NetDir | undefined;
  /** The configured bridges: the first whose ntor key is known is the directory source. */
  readonly bridges: () => readonly BridgeInfo[];
  /** The network's v3 authorities: sources of a first bootstrap, after the fallbacks. */
  readonly authorities: readonly DirAuthority[];
  /** The network's fallback directories: the first sources of a bootstrap. */
  readonly fallbacks?: readonly FallbackDir[];
  /** The first contact's schedule, clock, timers and randomness (tests); tor's schedule by default. */
  readonly firstContact?: Pick<FirstContactOptions<Circuit>, 'timing' | 'now' | 'schedule' | 'random' | 'onAttempt'>;
  readonly circuitOptions?: CircuitOptions;
  readonly log?: Logger;
  /** Steps of reaching a source, for the client's bootstrap status. */
  readonly progress?: (percent: number, tag: string, summary: string) => void;
  /** A link to a directory source is up: its NETINFO tells the peer's clock. */
  readonly linkOpened?: (link: object) => void;
}

/**
 * Fetches directory documents over a one-hop BEGIN_DIR circuit (kept and reused while it stays
 * open and its source is still the right one) to the best source there is: a bridge, else a guard
 * once the network view exists, else the source a first contact finds (a fallback directory or
 * an authority, on tor's schedule: first-contact.ts).
 *
 * DirPorts have no role here: tor clients fetch over BEGIN_DIR only, and tor's fallback list no
 * longer gives DirPorts. (A relay uploads its descriptor to the authorities' DirPorts: publish.ts.)
 */
export class DirectoryFetcher {
  private dirCircuit: { readonly kind: DirSource['kind']; readonly circuit: Promise<Circuit> } | undefined;
  /** One-hop circuits to the caches microdescriptors are spread over, by fingerprint, kept while open. */
  private readonly cacheCircuits = new Map<string, Promise<Circuit>>();

  constructor(private readonly opts: DirectoryFetcherOptions) {}

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private progress(percent: number, tag: string, summary: string): void {
    this.opts.progress?.(percent, tag, summary);
  }

  /** Fetch a directory document over BEGIN_DIR from the current source, with the request's headers. */
  async fetch(path: string, headers: DirRequestHeaders = {}): Promise<Uint8Array> {
    const source = this.source();
    const circuit = await this.directoryCircuit(source);
    try {
      const stream = await circuit.openDirStream({ timeoutMs: 30_000 });
      return await dirGet(stream, path, headers);
    } catch (e) {
      // A first contact that cannot serve what we asked is dropped, so the next fetch finds
      // another source (as tor tries another mirror); a bridge or guard is kept while it is open.
      if (!circuit.isOpen || source.kind === 'first-contact') {
        if (circuit.isOpen) circuit.destroy();
        this.dirCircuit = undefined;
      }
      throw e;
    }
  }

  /**
   * The caches microdescriptor requests are spread over, as tor does: every bridge whose key we
   * know (with bridges, only they may be asked), else the directory guards (the primary guards),
   * else the first contact's source.
   */
  async caches(): Promise<DirCache[]> {
    const bridges = this.opts.bridges().filter((b) => b.ntorOnionKey !== undefined);
    if (bridges.length > 0) return bridges.map((b) => relayCache(bridgeTarget(b)));
    const netDir = this.opts.netDir();
    if (netDir) return (await this.opts.guards.directoryGuards(netDir)).map((g) => relayCache(guardTarget(g)));
    return [{ kind: 'first-contact', id: 'the first directory contact' }];
  }

  /** GET `path` from one cache; `signal` (a timeout) closes the stream. */
  async fetchFrom(cache: DirCache, path: string, signal?: AbortSignal): Promise<Uint8Array> {
    if (cache.kind === 'first-contact') return this.fetch(path);
    const key = toHex(cache.target.rsaIdentity);
    const circuit = await this.cacheCircuit(key, cache.target);
    const stream = await circuit.openDirStream({ timeoutMs: 30_000 });
    const abort = () => stream.close();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await dirGet(stream, path);
    } catch (e) {
      if (!circuit.isOpen) this.cacheCircuits.delete(key);
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  private async cacheCircuit(key: string, target: RelayTarget): Promise<Circuit> {
    const existing = this.cacheCircuits.get(key);
    if (existing) {
      const open = await existing.then((c) => (c.isOpen ? c : undefined), () => undefined);
      if (open) return open;
    }
    const p = (async () => {
      const channel = await this.opts.pool.get(target);
      this.opts.linkOpened?.(channel.link);
      return Circuit.create(channel, target, this.opts.circuitOptions);
    })();
    this.cacheCircuits.set(key, p);
    // The caller sees the failure; here we only forget the broken circuit.
    p.catch(() => { if (this.cacheCircuits.get(key) === p) this.cacheCircuits.delete(key); });
    return p;
  }

  private source(): DirSource {
    const bridge = this.opts.bridges().find((b) => b.ntorOnionKey !== undefined);
    if (bridge) return { kind: 'bridge', target: bridgeTarget(bridge) };
    if (this.opts.netDir()) return { kind: 'guard' };
    return { kind: 'first-contact' };
  }

  private async directoryCircuit(source: DirSource): Promise<Circuit> {
    const existing = this.dirCircuit;
    if (existing?.kind === source.kind) {
      const open = await existing.circuit.then((c) => (c.isOpen ? c : undefined), () => undefined);
      if (open) return open;
    } else if (existing) {
      // The source changed (the network view arrived: guards now): the old circuit is done.
      existing.circuit.then((c) => c.destroy(), () => {});
    }
    return this.newDirCircuit(source);
  }

  private newDirCircuit(source: DirSource): Promise<Circuit> {
    const p = (async () => {
      if (source.kind === 'first-contact') return this.firstContactCircuit();
      this.progress(5, 'conn', 'Connecting to a relay');
      let target: RelayTarget;
      if (source.kind === 'guard') {
        const netDir = this.opts.netDir();
        if (!netDir) throw new TelescopeError('no usable directory information yet: bootstrap first');
        target = guardTarget(await this.opts.guards.pick(netDir));
      } else target = source.target;
      const channel = await this.opts.pool.get(target);
      this.opts.linkOpened?.(channel.link);
      this.progress(15, 'handshake_done', 'Handshake with a relay done');
      const c = await Circuit.create(channel, target, this.opts.circuitOptions);
      this.progress(20, 'onehop_create', 'Establishing an encrypted directory connection');
      return c;
    })();
    const entry = { kind: source.kind, circuit: p };
    this.dirCircuit = entry;
    // The caller sees the failure; here we only forget the broken circuit.
    p.catch(() => { if (this.dirCircuit === entry) this.dirCircuit = undefined; });
    return p;
  }

  /**
   * A first bootstrap: a one-hop circuit to a fallback directory or an authority, whichever
   * answers first on tor's schedule. CREATE_FAST, as tor does for a relay whose onion key it does
   * not know yet: the link handshake has already checked the relay's identity (its fingerprint,
   * from the built-in list or the torrc).
   */
  private async firstContactCircuit(): Promise<Circuit> {
    const fallbacks = this.opts.fallbacks ?? [];
    this.progress(5, 'conn', fallbacks.length > 0 ? 'Connecting to a fallback directory' : 'Connecting to a directory authority');
    const { source, value } = await firstContact<Circuit>({
      fallbacks,
      authorities: this.opts.authorities,
      connect: (s) => this.createFastCircuit(s),
      release: (c) => c.destroy(),
      log: this.log,
      ...this.opts.firstContact,
    });
    const what = source.kind === 'fallback' ? 'fallback directory' : 'directory authority';
    this.log.notice(`first directory contact: ${what} ${source.nickname ?? source.fingerprint} at ${source.address}:${source.orPort}`);
    this.progress(15, 'handshake_done', `Handshake with a ${what} done`);
    this.progress(20, 'onehop_create', 'Establishing an encrypted directory connection');
    return value;
  }

  private async createFastCircuit(source: FirstContactSource): Promise<Circuit> {
    const ip = parseIp(source.address);
    if (!ip || ip.family !== 4) throw new UsageError(`${source.kind} ${source.fingerprint}: ${source.address} is not an IPv4 address`);
    // The channel checks the identity; the ntor key is unknown and never used (CREATE_FAST).
    const channel = await this.opts.pool.get({
      ...(source.nickname ? { nickname: source.nickname } : {}),
      rsaIdentity: fromHex(source.fingerprint),
      ntorOnionKey: new Uint8Array(32),
      ipv4: { address: ip.bytes, port: source.orPort },
    });
    this.opts.linkOpened?.(channel.link);
    return Circuit.createFast(channel, this.opts.circuitOptions);
  }
}

function guardTarget(guard: NetRelay): RelayTarget {
  return { nickname: guard.nickname, rsaIdentity: guard.rsaIdentity, ntorOnionKey: guard.ntorOnionKey, ipv4: guard.ipv4, ...(guard.ed25519Identity ? { ed25519Identity: guard.ed25519Identity } : {}) };
}

/** A relay as a cache, named by nickname and fingerprint (nicknames are not unique). */
function relayCache(target: RelayTarget): DirCache {
  return { kind: 'relay', id: `${target.nickname ?? 'relay'} $${toHex(target.rsaIdentity).toUpperCase()}`, target };
}
