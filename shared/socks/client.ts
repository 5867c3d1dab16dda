import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { describeSocksReply, SocksReply } from './reply.ts';
import {
  addressFor, addressText, decodeAuthStatus, decodeMethodChoice, decodeReply, encodeGreeting, encodeRequest, encodeUserPassAuth,
  SocksMethod, type SocksAuth, type SocksCommand, type SocksReplyMessage,
} from './wire.ts';

/** The SOCKS server answered a request with a failure (REP is not 0). */
export class SocksError extends TelescopeError {
  readonly reply: number;
  constructor(reply: number, target: string) {
    super(`SOCKS5 request for ${target} failed: ${describeSocksReply(reply)} (reply ${reply})`);
    this.reply = reply;
  }
}

export type SocksClientStep =
  | { readonly kind: 'need-more' }
  /** Send `send`, drop `consumed` bytes of the input, and feed the rest again. */
  | { readonly kind: 'send'; readonly consumed: number; readonly send: Uint8Array }
  /** The server granted the request; bytes after `consumed` are already the target's. */
  | { readonly kind: 'done'; readonly consumed: number; readonly reply: SocksReplyMessage };

/**
 * The client's side of a SOCKS5 handshake without I/O, for the test and bench clients: send
 * `greeting`, then feed what the server sends. With `auth` it offers username/password only (a
 * server that will not isolate by them is refused), else "no authentication" only.
 */
export class SocksClientHandshake {
  readonly greeting: Uint8Array;
  private state: 'method' | 'auth' | 'reply' | 'done' = 'method';
  private readonly request: Uint8Array;
  private readonly target: string;
  private readonly auth: SocksAuth | undefined;

  constructor(opts: { readonly command?: SocksCommand; readonly host: string; readonly port: number; readonly auth?: SocksAuth }) {
    const address = addressFor(opts.host);
    this.target = `${addressText(address)}:${opts.port}`;
    this.request = encodeRequest({ command: opts.command ?? 'CONNECT', address, port: opts.port });
    this.auth = opts.auth;
    this.greeting = encodeGreeting([opts.auth ? SocksMethod.USERNAME_PASSWORD : SocksMethod.NO_AUTH]);
  }

  /** Throws SocksError when the server refuses the request, ProtocolError on anything else wrong. */
  step(input: Uint8Array): SocksClientStep {
    switch (this.state) {
      case 'method': {
        const choice = decodeMethodChoice(input);
        if (!choice) return NEED_MORE;
        const wanted = this.auth ? SocksMethod.USERNAME_PASSWORD : SocksMethod.NO_AUTH;
        if (choice.method !== wanted) throw new ProtocolError('SOCKS5 method choice', `method ${choice.method}, expected ${wanted}`, 1);
        if (this.auth) {
          this.state = 'auth';
          return { kind: 'send', consumed: choice.length, send: encodeUserPassAuth(this.auth.username, this.auth.password) };
        }
        this.state = 'reply';
        return { kind: 'send', consumed: choice.length, send: this.request };
      }
      case 'auth': {
        const status = decodeAuthStatus(input);
        if (!status) return NEED_MORE;
        if (status.status !== 0) throw new ProtocolError('SOCKS5 username/password status', `the server refused the credentials (status ${status.status})`, 1);
        this.state = 'reply';
        return { kind: 'send', consumed: status.length, send: this.request };
      }
      case 'reply': {
        const reply = decodeReply(input);
        if (!reply) return NEED_MORE;
        this.state = 'done';
        if (reply.code !== SocksReply.SUCCEEDED) throw new SocksError(reply.code, this.target);
        return { kind: 'done', consumed: reply.length, reply };
      }
      default:
        throw new UsageError('the SOCKS5 handshake is over: nothing more to feed it');
    }
  }
}

const NEED_MORE: SocksClientStep = { kind: 'need-more' };
