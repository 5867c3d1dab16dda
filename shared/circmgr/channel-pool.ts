import { formatIp } from '../addr/index.ts';
import { Channel, type ByteTransport, type TransportFactory, type LinkAuthenticator } from '../channel/index.ts';
import type { RelayTarget } from '../circuit/index.ts';
import { ChannelError, TelescopeError, silentLogger, type Logger } from '../util/index.ts';
import { fingerprintOf } from '../netdir/index.ts';

/**
 * One channel per relay, reused by every circuit through it (tor-spec: a client keeps one
 * connection per relay). Concurrent requests for the same relay share one connection attempt.
 * Channels that carry no circuit for a while are closed.
 */
export class ChannelPool {
  private readonly channels = new Map<string, Promise<Channel>>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly transports: TransportFactory,
    private readonly opts: { log?: Logger; now?: () => Date; idleMs?: number; authenticator?: (transport: ByteTransport) => LinkAuthenticator | undefined } = {},
  ) {
    this.timer = setInterval(() => this.closeIdle(), 60_000);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private get log(): Logger {
    return this.opts.log ?? silentLogger;
  }

  /** An open channel to `target`, authenticated as its RSA (and Ed25519, if known) identity. */
  get(target: RelayTarget): Promise<Channel> {
    const fp = fingerprintOf(target.rsaIdentity);
    const existing = this.channels.get(fp);
    if (existing) {
      return existing.then((ch) => (ch.isOpen ? ch : this.open(fp, target)), () => this.open(fp, target));
    }
    return this.open(fp, target);
  }

  private open(fp: string, target: RelayTarget): Promise<Channel> {
    const current = this.channels.get(fp);
    const addr = target.ipv4;
    if (!addr) return Promise.reject(new ChannelError(`relay ${fp} has no IPv4 address to connect to`));
    const promise = (async () => {
      const transport = await this.transports({ address: formatIp(addr.address), port: addr.port });
      const authenticator = this.opts.authenticator?.(transport);
      const channel = await Channel.open(transport, {
        ...(authenticator ? { authenticator } : {}),
        expected: { rsaIdentity: target.rsaIdentity, ...(target.ed25519Identity ? { ed25519Identity: target.ed25519Identity } : {}) },
        ...(transport.peerCertificate ? { peerTlsCertificate: transport.peerCertificate } : {}),
        peerAddress: { type: 'ipv4', bytes: addr.address },
        log: this.log,
        ...(this.opts.now ? { now: this.opts.now } : {}),
      });
      channel.onClose(() => {
        if (this.channels.get(fp) === promise) this.channels.delete(fp);
      });
      return channel;
    })();
    if (current === undefined || this.channels.get(fp) === current) this.channels.set(fp, promise);
    promise.catch((e: unknown) => {
      if (this.channels.get(fp) === promise) this.channels.delete(fp);
      if (!(e instanceof TelescopeError)) this.log.warn(`channel to ${fp}: ${String(e)}`);
    });
    return promise;
  }

  private closeIdle(): void {
    const idleMs = this.opts.idleMs ?? 5 * 60_000;
    for (const p of this.channels.values()) {
      p.then((ch) => {
        if (ch.circuitCount === 0 && Date.now() - ch.lastActivity > idleMs) ch.close('closed: idle');
      }, () => {});
    }
  }

  /** Open channels, for status displays. */
  async list(): Promise<Channel[]> {
    const settled = await Promise.allSettled([...this.channels.values()]);
    return settled.flatMap((s) => (s.status === 'fulfilled' && s.value.isOpen ? [s.value] : []));
  }

  closeAll(): void {
    clearInterval(this.timer);
    for (const p of this.channels.values()) p.then((ch) => ch.close('closed: client shutting down'), () => {});
    this.channels.clear();
  }
}
