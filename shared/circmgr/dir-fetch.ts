import { Circuit, type CircuitOptions, type RelayTarget } from '../circuit/index.ts';
import type { NetDir } from '../netdir/index.ts';
import { secureUniform, type GuardManager } from '../path/index.ts';
import { TelescopeError, silentLogger, type Logger } from '../util/index.ts';
import { bridgeTarget, type BridgeInfo } from './bridges.ts';
import type { ChannelPool } from './channel-pool.ts';
import { dirGet, type DirRequestHeaders } from './dir-http.ts';

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
 * Fetches directory documents from the best source there is: a bridge, else a guard over a
 * one-hop BEGIN_DIR circuit (kept and reused while it stays open), else an authority's DirPort.
 */
export class DirectoryFetcher {
  private dirCircuit: Promise<Circuit> | undefined;

  constructor(private readonly opts: DirectoryFetcherOptions) {}

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  private progress(percent: number, tag: string, summary: string): void {
    this.opts.progress?.(percent, tag, summary);
  }

  /**
   * Fetch a directory document: through a bridge or guard over BEGIN_DIR, else an authority's
   * DirPort (which gets no extra headers: the host's plain GET takes none).
   */
  async fetch(path: string, headers: DirRequestHeaders = {}): Promise<Uint8Array> {
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
    const circuit = await this.directoryCircuit(source);
    try {
      const stream = await circuit.openDirStream({ timeoutMs: 30_000 });
      return await dirGet(stream, path, headers);
    } catch (e) {
      if (!circuit.isOpen) this.dirCircuit = undefined;
      throw e;
    }
  }

  private source(): RelayTarget | 'dirport' | 'guard' {
    const bridge = this.opts.bridges().find((b) => b.ntorOnionKey !== undefined);
    if (bridge) return bridgeTarget(bridge);
    if (this.opts.netDir()) return 'guard';
    if (this.opts.dirPortGet) return 'dirport';
    throw new TelescopeError('no directory source: configure a bridge, or run where authorities\' DirPorts can be reached');
  }

  private directoryCircuit(source: RelayTarget | 'guard'): Promise<Circuit> {
    const existing = this.dirCircuit;
    if (existing) return existing.then((c) => (c.isOpen ? c : this.newDirCircuit(source)), () => this.newDirCircuit(source));
    return this.newDirCircuit(source);
  }

  private newDirCircuit(source: RelayTarget | 'guard'): Promise<Circuit> {
    const p = (async () => {
      this.progress(5, 'conn', 'Connecting to a relay');
      let target: RelayTarget;
      if (source === 'guard') {
        const netDir = this.opts.netDir();
        if (!netDir) throw new TelescopeError('no usable directory information yet: bootstrap first');
        const guard = await this.opts.guards.pick(netDir);
        target = { nickname: guard.nickname, rsaIdentity: guard.rsaIdentity, ntorOnionKey: guard.ntorOnionKey, ipv4: guard.ipv4, ...(guard.ed25519Identity ? { ed25519Identity: guard.ed25519Identity } : {}) };
      } else target = source;
      const channel = await this.opts.pool.get(target);
      this.opts.linkOpened?.(channel.link);
      this.progress(15, 'handshake_done', 'Handshake with a relay done');
      const c = await Circuit.create(channel, target, this.opts.circuitOptions);
      this.progress(20, 'onehop_create', 'Establishing an encrypted directory connection');
      return c;
    })();
    this.dirCircuit = p;
    // The caller sees the failure; here we only forget the broken circuit.
    p.catch(() => { if (this.dirCircuit === p) this.dirCircuit = undefined; });
    return p;
  }
}
