import { WebSocketTransport } from '../../shared/channel/index.ts';
import type { TransportFactory } from '../../shared/channel/index.ts';
import type { OnionPhase } from '../../shared/onion/index.ts';
import { TorClient, type BootstrapStatus } from '../../shared/client/index.ts';
import { bridgeFrom, type BridgeInfo, ConfigError, parseBridgeLine, parseDirAuthorityLine } from '../../shared/config/index.ts';
import type { DirAuthority } from '../../shared/directory/index.ts';
import { parseClientAuthLine } from '../../shared/onion/index.ts';
import { webCryptoAesCtr } from '../../shared/crypto/index.ts';
import { ChannelError } from '../../shared/util/index.ts';
import { ChanCmd } from '../../shared/cells/index.ts';
import { httpRequest, type HttpRequest, type HttpResponse } from '../../shared/http/index.ts';
import { HttpsPool } from './https/index.ts';
import { BUILTIN_AUTHORITIES } from './builtin-network.ts';
import type { Logger, KeyValueStore } from '../../shared/util/index.ts';

/**
 * The Tor client as the service worker hosts it: it reaches the network only through its
 * relay-bridge over WebSocket (a browser cannot open TLS connections to relays); the bridge is the
 * first hop of every circuit and the source of every directory document, which the worker
 * verifies itself against the authorities the settings name or, when they name none, the public
 * network's (built in).
 */

export interface ExtensionSettings {
  /** `telescope ws[s]://HOST:PORT[/PATH] FINGERPRINT ed25519=… ntor=…` lines (with or without "Bridge "). */
  readonly bridges: readonly string[];
  /**
   * `DirAuthority …` lines (tor's syntax, with or without the keyword) naming a private network's
   * authorities; none (the usual case): the built-in public authorities.
   */
  readonly authorities: readonly string[];
  /**
   * Client authorization keys for onion services that require them, one per line in tor's
   * .auth_private format: `<56-char address>:descriptor:x25519:<base32 secret key>`.
   */
  readonly onionAuth?: readonly string[];
  /**
   * Extra trusted CA certificates (PEM) for HTTPS, for private test networks: added to the Mozilla
   * roots, never replacing certificate or host name validation.
   */
  readonly extraCaPem?: readonly string[];
}

interface WsBridge extends BridgeInfo {
  readonly url: string;
}

/** Which authorities a consensus must be signed by, as the settings page and popup show it. */
export type AuthoritySetInUse =
  | { readonly kind: 'built-in'; readonly name: string; readonly source: string; readonly nicknames: readonly string[] }
  | { readonly kind: 'custom'; readonly nicknames: readonly string[] };

/**
 * "Tor's public directory authorities (built in, from tor 0.4.9.3-alpha-dev: moria1, tor26, …)" or
 * "2 custom authorities: test000a, test001a".
 */
export function describeAuthoritySet(set: AuthoritySetInUse): string {
  const names = set.nicknames.join(', ');
  if (set.kind === 'built-in') return `${set.name} (built in, from ${set.source}: ${names})`;
  return `${set.nicknames.length} custom ${set.nicknames.length === 1 ? 'authority' : 'authorities'}: ${names}`;
}

/** The set a client uses when the settings name no authorities. */
export function builtinAuthoritySet(): AuthoritySetInUse {
  return { kind: 'built-in', name: BUILTIN_AUTHORITIES.name, source: BUILTIN_AUTHORITIES.source, nicknames: BUILTIN_AUTHORITIES.authorities.map((a) => a.nickname) };
}

export interface ParsedSettings {
  readonly bridges: WsBridge[];
  /** The settings' DirAuthority lines, or the built-in authorities when they give none. */
  readonly authorities: readonly DirAuthority[];
  readonly authoritySet: AuthoritySetInUse;
  readonly onionAuth: Map<string, Uint8Array>;
}

/**
 * Parse the settings. A problem with one line is a ConfigError whose `line` is the line's number
 * in its list and whose `reason` is what is wrong with it.
 */
export function parseSettings(settings: ExtensionSettings): ParsedSettings {
  const bridges = settings.bridges.map((line, i) => settingLine(line, i, (): WsBridge => {
    const b = parseBridgeLine(line.replace(/^\s*Bridge\s+/i, ''));
    if (b.kind !== 'telescope') throw new ConfigError('the extension needs a "telescope ws[s]://…" bridge line');
    if (!b.ntorOnionKey) throw new ConfigError('the bridge line lacks ntor=…');
    return { ...bridgeFrom(b), url: b.url };
  }));
  const custom = settings.authorities.map((line, i) => settingLine(line, i, () => parseDirAuthorityLine(line, i)));
  if (bridges.length === 0) throw new ConfigError('no bridge configured: the extension reaches Tor through a relay-bridge');
  const onionAuth = new Map((settings.onionAuth ?? []).map((line, i) => {
    const { hostname, secretKey } = parseClientAuthLine(line, `onion client key ${i + 1}`);
    return [hostname, secretKey] as const;
  }));
  // No DirAuthority lines: the network whose authorities are built in, as tor and Arti do.
  const authorities = custom.length > 0 ? custom : BUILTIN_AUTHORITIES.authorities;
  const authoritySet: AuthoritySetInUse = custom.length > 0 ? { kind: 'custom', nicknames: custom.map((a) => a.nickname) } : builtinAuthoritySet();
  return { bridges, authorities, authoritySet, onionAuth };
}

function settingLine<T>(line: string, index: number, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.reason, index + 1, line, { cause: e });
    throw e;
  }
}

/**
 * Chromium stops an MV3 service worker after ~30 s without events; WebSocket traffic in either
 * direction every 20 s keeps it alive (both seen in Chromium 156). Link-level PADDING costs the bridge
 * nothing.
 */
const KEEPALIVE_MS = 20_000;

export class ExtensionClient {
  readonly client: TorClient;
  /** The authorities this client's consensus must be signed by. */
  readonly authoritySet: AuthoritySetInUse;
  private readonly keepalive: ReturnType<typeof setInterval>;
  private readonly extraCaPem: readonly string[];
  /** Bytes received on every link to the bridge since this client started (cells: directory bodies plus cell overhead). */
  linkBytesRead = 0;

  constructor(settings: ExtensionSettings, store: KeyValueStore, log: Logger, onBootstrap?: (s: BootstrapStatus) => void) {
    const { bridges, authorities, authoritySet, onionAuth } = parseSettings(settings);
    this.authoritySet = authoritySet;
    this.extraCaPem = settings.extraCaPem ?? [];
    // Only the bridge is ever dialled; everything else is reached through circuits.
    const transports: TransportFactory = async (target) => {
      const bridge = bridges.find((b) => b.port === target.port && (b.address === target.address || b.address === '0.0.0.0'));
      if (!bridge) throw new ChannelError(`the extension connects only to its bridge, not ${target.address}:${target.port}`);
      return WebSocketTransport.connect(bridge.url, { countReceived: (n) => { this.linkBytesRead += n; } });
    };
    this.client = new TorClient({
      authorities,
      authoritySet: authoritySet.kind === 'built-in' ? 'built-in' : 'configured',
      bridges,
      transports,
      store,
      log,
      // Circuits through the bridge: the /16 rule applies as tor applies it outside test networks,
      // unless the authorities in use (the settings', or a test build's built-in list) are a
      // private test network's, all on loopback. The public authorities keep the rule on.
      rules: { enforceDistinctSubnets: !authorities.every((a) => a.address.startsWith('127.')) },
      circuitOptions: { aes: webCryptoAesCtr, log },
      onionClientAuth: onionAuth,
      ...(onBootstrap ? { onBootstrap } : {}),
    });
    this.keepalive = setInterval(() => void this.sendKeepalive(), KEEPALIVE_MS);
  }

  private async sendKeepalive(): Promise<void> {
    for (const channel of await this.client.pool.list()) {
      if (channel.circuitCount > 0) channel.send({ circId: 0, command: ChanCmd.PADDING, body: new Uint8Array(0) });
    }
  }

  /** Stop; resolves once the client's store writes in flight have landed. */
  close(): Promise<void> {
    clearInterval(this.keepalive);
    this.https.forgetAll();
    return this.client.close();
  }

  /** Where the latest connection to each onion service got to, for the onion tab's status line. */
  private readonly onionPhases = new Map<string, { phase: OnionPhase; at: number }>();

  onionPhase(host: string): { phase: OnionPhase; at: number } | undefined {
    return this.onionPhases.get(host.toLowerCase());
  }

  /** The circuit a site's streams use, hop by hop, for the popup. */
  circuitFor(site: string): { nickname: string; fingerprint: string; flags: string[]; bandwidth: number }[] | undefined {
    const [c] = this.client.circuits.forIsolation(site);
    if (!c) return undefined;
    const hops = c.path.map((r) => ({ nickname: r.nickname, fingerprint: r.fingerprint, flags: [...r.flags], bandwidth: r.bandwidth }));
    // A rendezvous circuit: the last relay is the rendezvous point, the service a virtual hop after it.
    if (c.purpose === 'onion' && c.circuit.length > c.path.length) {
      hops[hops.length - 1]!.flags.push('rendezvous-point');
      hops.push({ nickname: 'the onion service', fingerprint: site, flags: ['end-to-end (hs-ntor)'], bandwidth: 0 });
    }
    return hops;
  }

  bootstrap(): Promise<void> {
    return this.client.bootstrap();
  }

  /** GET a URL through Tor, on a circuit for `isolationKey` (the first-party site). */
  fetch(url: string, isolationKey: string): Promise<HttpResponse & { circuit: string[] }> {
    return this.request({ method: 'GET', url: new URL(url) }, isolationKey);
  }

  /**
   * One HTTP(S) request through Tor on a circuit for `isolationKey` (the first-party site); the
   * circuit's hops are returned for the status line. https: runs TLS in the worker over the stream.
   */
  async request(request: HttpRequest, isolationKey: string): Promise<HttpResponse & { circuit: string[] }> {
    const u = request.url;
    let used: string[] | undefined;
    const open = async (host: string, port: number) => {
      const { stream, circuit } = await this.client.connect(host, port, {
        isolationKey,
        onOnionPhase: (phase) => this.onionPhases.set(host.toLowerCase(), { phase, at: Date.now() }),
      });
      used = circuit.path.map((r) => `${r.nickname}~${r.fingerprint.slice(0, 8)}`);
      this.siteCircuits.set(isolationKey, used);
      return stream;
    };
    const response = u.protocol === 'https:'
      ? await this.https.request(isolationKey, open, request, { extraCaPem: this.extraCaPem })
      : await httpRequest(await open(u.hostname, Number(u.port || 80)), request);
    // A request on a kept TLS connection opened no stream: it went over the site's latest one.
    return { ...response, circuit: used ?? this.siteCircuits.get(isolationKey) ?? [] };
  }

  /** HTTPS sessions (TLS connections) kept per first-party site. */
  private readonly https = new HttpsPool();
  /** The circuit of each site's latest stream, for requests that reuse a connection. */
  private readonly siteCircuits = new Map<string, string[]>();

  /** "New circuit for this site": its kept HTTPS connections close with its circuits. */
  forgetSite(site: string): void {
    this.https.forgetSite(site);
    this.siteCircuits.delete(site);
  }

  /** "New identity": every kept HTTPS connection closes. */
  forgetAll(): void {
    this.https.forgetAll();
    this.siteCircuits.clear();
  }
}
