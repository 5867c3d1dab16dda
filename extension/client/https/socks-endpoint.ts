import { concatBytes } from '../../../shared/bytes/index.ts';
import {
  encodeReply, SocksHandshakeError, SocksReply, socksReplyFor, SocksServerHandshake,
} from '../../../shared/socks/index.ts';

/**
 * The SOCKS5 server's side of one of curl's connections: curl (socks5h) names the host it wants
 * through the session's proxy, and the shared SOCKS5 handshake answers it. Only CONNECT is served:
 * curl sends nothing else.
 */

/** What curl's bytes so far call for. */
export interface SocksProgress {
  /** Replies to hand curl, in order (a refusal's reply included). */
  readonly replies: readonly Uint8Array[];
  /** The target, once the CONNECT is whole, with the bytes curl sent after it. */
  readonly connect?: { readonly host: string; readonly port: number; readonly early: Uint8Array };
  /** The handshake failed: close the connection, explained by this. */
  readonly error?: SocksHandshakeError;
}

export class CurlSocksEndpoint {
  private readonly handshake = new SocksServerHandshake();
  private pending: Uint8Array = new Uint8Array(0);

  /** Take bytes from curl, as they arrive in pieces. */
  receive(bytes: Uint8Array): SocksProgress {
    let buf = concatBytes(this.pending, bytes);
    const replies: Uint8Array[] = [];
    try {
      for (;;) {
        const step = this.handshake.step(buf);
        if (step.kind === 'need-more') {
          this.pending = buf;
          return { replies };
        }
        buf = buf.subarray(step.consumed);
        if (step.kind === 'reply') {
          replies.push(step.reply);
          continue;
        }
        const { command, host, port } = step.request;
        if (command !== 'CONNECT') {
          throw new SocksHandshakeError('SOCKS5 request from curl', `${command} is not served here`, 1, encodeReply(SocksReply.COMMAND_NOT_SUPPORTED));
        }
        this.pending = new Uint8Array(0);
        return { replies, connect: { host, port, early: buf.slice() } };
      }
    } catch (e) {
      if (!(e instanceof SocksHandshakeError)) throw e;
      if (e.reply) replies.push(e.reply);
      return { replies, error: e };
    }
  }

  /** The reply to a CONNECT whose stream is open. */
  static granted(): Uint8Array {
    return encodeReply(SocksReply.SUCCEEDED);
  }

  /** The reply to a CONNECT whose stream could not be opened. */
  static refused(error: unknown): Uint8Array {
    return encodeReply(socksReplyFor(error));
  }
}
