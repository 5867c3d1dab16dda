import { Circuit, type CircuitOptions, type RelayTarget } from '../circuit/index.ts';
import type { NetDir, NetRelay } from '../netdir/index.ts';
import { toHex } from '../bytes/index.ts';
import { secureUniform, type GuardManager } from '../path/index.ts';
import { TelescopeError, silentLogger, type Logger } from '../util/index.ts';
import { bridgeTarget, type BridgeInfo } from './bridges.ts';
import type { ChannelPool } from './channel-pool.ts';
import { dirGet } from './dir-http.ts';

/** An authority's DirPort: the directory source of last resort, at a first bootstrap. */
export interface DirPortSource {
  readonly nickname: string;
  readonly address: string;
  readonly dirPort: number;
}

export interface DirectoryFetcherOptions {
  readonly pool: ChannelPool;
  readonly guards: GuardManager;
  /** The network view guards are picked from; undefined until the directory is ready. */
  readonly netDir: () => NetDir | undefined;
  /** The configured bridges: the first whose ntor key is known is the directory source. */
  readonly bridges: () => readonly BridgeInfo[];
  readonly authorities: readonly DirPortSource[];
  /** Plain HTTP GET from an authority's DirPort, used only when no other source exists yet. */
  readonly dirPortGet?: (address: string, port: number, path: string) => Promise<Uint8Array>;
  readonly circuitOptions?: CircuitOptions;
  readonly log?: Logger;
  /** Steps of reaching a source, for the client's bootstrap status. */
  readonly progress?: (percent: number, tag: string, summary: string) => void;
  /** A link to a directory source is up: its NETINFO tells the peer's clock. */
  readonly linkOpened?: (link: object) => void;
}

/**
 * A directory cache that microdescriptor requests can be spread over: a relay reached over a
 * one-hop BEGIN_DIR circuit (a bridge or a directory guard), or an authority's DirPort.
 */
export type DirCache =
  | { readonly kind: 'relay'; readonly id: string; readonly target: RelayTarget }
  | { readonly kind: 'dirport'; readonly id: string; readonly authority: DirPortSource };

/**
 * Fetches directory documents from the best source there is: a bridge, else a guard over a
 * one-hop BEGIN_DIR circuit (kept and reused while it stays open), else an authority's DirPort.
 * Microdescriptors are spread over every cache of that kind (`caches()`, `fetchFrom()`).
 */
export class DirectoryFetcher {
  /** One-hop directory circuits by relay fingerprint, kept while they stay open. */
  private readonly dirCircuits = new Map<string, Promise<Circuit>>();

  constructor(private readonly opts: DirectoryFetcherOptions) {}

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private progress(percent: number, tag: string, summary: string): void {
    this.opts.progress?.(percent, tag, summary);
  }

  /** Fetch a directory document: through a bridge or guard over BEGIN_DIR, else an authority's DirPort. */
  async fetch(path: string): Promise<Uint8Array> {
    const source = this.source();
    if (source === 'dirport') {
      const auths = [...this.opts.authorities].sort(() => secureUniform() - 0.5);
      let last: unknown;
      for (const a of auths) {
        try {
          this.progress(5, 'conn', `Connecting to directory authority ${a.nickname}`);
          return await this.opts.dirPortGet!(a.address, a.dirPort, path);
        } catch (e) {
          last = e;
          this.log.info(`DirPort fetch of ${path} from ${a.nickname} failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      throw new TelescopeError(`no directory authority answered ${path}: ${last instanceof Error ? last.message : String(last)}`, { cause: last });
    }
    return this.getOverCircuit(source === 'guard' ? await this.pickGuard() : source, path);
  }

  /**
   * The caches microdescriptor requests are spread over, as tor does: every bridge whose key we
   * know (with bridges, only they may be asked), else the directory guards, else the authorities'
   * DirPorts (at a first bootstrap, before any relay's keys are known).
   */
  async caches(): Promise<DirCache[]> {
    const bridges = this.opts.bridges().filter((b) => b.ntorOnionKey !== undefined);
    if (bridges.length > 0) return bridges.map((b) => { const target = bridgeTarget(b); return { kind: 'relay', id: cacheId(target), target }; });
    const netDir = this.opts.netDir();
    if (netDir) return (await this.opts.guards.directoryGuards(netDir)).map((g) => ({ kind: 'relay', id: cacheId(guardTarget(g)), target: guardTarget(g) }));
    if (this.opts.dirPortGet) return this.opts.authorities.map((a) => ({ kind: 'dirport', id: `${a.nickname} (${a.address}:${a.dirPort})`, authority: a }));
    throw new TelescopeError('no directory source: configure a bridge, or run where authorities\' DirPorts can be reached');
  }

  /** GET `path` from one cache; `signal` (a timeout) closes the stream. */
  async fetchFrom(cache: DirCache, path: string, signal?: AbortSignal): Promise<Uint8Array> {
    if (cache.kind === 'dirport') return this.opts.dirPortGet!(cache.authority.address, cache.authority.dirPort, path);
    return this.getOverCircuit(cache.target, path, signal);
  }

  private async getOverCircuit(target: RelayTarget, path: string, signal?: AbortSignal): Promise<Uint8Array> {
    const circuit = await this.directoryCircuit(target);
    const stream = await circuit.openDirStream({ timeoutMs: 30_000 });
    const abort = () => stream.close();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await dirGet(stream, path);
    } catch (e) {
      if (!circuit.isOpen) this.forgetCircuit(target);
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  private source(): RelayTarget | 'dirport' | 'guard' {
    const bridge = this.opts.bridges().find((b) => b.ntorOnionKey !== undefined);
    if (bridge) return bridgeTarget(bridge);
    if (this.opts.netDir()) return 'guard';
    if (this.opts.dirPortGet) return 'dirport';
    throw new TelescopeError('no directory source: configure a bridge, or run where authorities\' DirPorts can be reached');
  }

  private async pickGuard(): Promise<RelayTarget> {
    const netDir = this.opts.netDir();
    if (!netDir) throw new TelescopeError('no usable directory information yet: bootstrap first');
    return guardTarget(await this.opts.guards.pick(netDir));
  }

  private forgetCircuit(target: RelayTarget): void {
    this.dirCircuits.delete(toHexId(target));
  }

  private directoryCircuit(target: RelayTarget): Promise<Circuit> {
    const existing = this.dirCircuits.get(toHexId(target));
    if (existing) return existing.then((c) => (c.isOpen ? c : this.newDirCircuit(target)), () => this.newDirCircuit(target));
    return this.newDirCircuit(target);
  }

  private newDirCircuit(target: RelayTarget): Promise<Circuit> {
    const key = toHexId(target);
    const p = (async () => {
      this.progress(5, 'conn', 'Connecting to a relay');
      const channel = await this.opts.pool.get(target);
      this.opts.linkOpened?.(channel.link);
      this.progress(15, 'handshake_done', 'Handshake with a relay done');
      const c = await Circuit.create(channel, target, this.opts.circuitOptions);
      this.progress(20, 'onehop_create', 'Establishing an encrypted directory connection');
      return c;
    })();
    this.dirCircuits.set(key, p);
    // The caller sees the failure; here we only forget the broken circuit.
    p.catch(() => { if (this.dirCircuits.get(key) === p) this.dirCircuits.delete(key); });
    return p;
  }
}

function guardTarget(guard: NetRelay): RelayTarget {
  return { nickname: guard.nickname, rsaIdentity: guard.rsaIdentity, ntorOnionKey: guard.ntorOnionKey, ipv4: guard.ipv4, ...(guard.ed25519Identity ? { ed25519Identity: guard.ed25519Identity } : {}) };
}

/** A cache's name in logs and charges: nickname and fingerprint (nicknames are not unique). */
function cacheId(target: RelayTarget): string {
  return `${target.nickname ?? 'relay'} $${toHexId(target)}`;
}

function toHexId(target: RelayTarget): string {
  return toHex(target.rsaIdentity);
}
