import { ProtocolError, UsageError } from '../util/index.ts';
import { SocksReply } from './reply.ts';
import {
  AddressType, addressText, commandOf, decodeRequest, encodeAuthStatus, encodeMethodChoice, encodeReply, hostNameProblem, SOCKS_VERSION, SocksMethod,
  USERPASS_VERSION, type SocksAddress, type SocksAuth, type SocksCommand,
} from './wire.ts';

/**
 * The server's side of a SOCKS5 handshake as a state machine fed bytes (as Arti's tor-socksproto):
 * a host hands it what arrived, sends the replies it returns, and gets the client's request once it
 * is whole. It does no I/O, so the Node SOCKS port and the extension's SOCKS endpoint for libcurl
 * follow the same rules:
 *
 * - A greeting that is not SOCKS5 (SOCKS4, HTTP, noise) is closed without an answer.
 * - Username/password (RFC 1929) is chosen whenever it is offered, and any credentials are
 *   accepted: they are the stream-isolation key (tor's IsolateSOCKSAuth), not a password check.
 *   Otherwise "no authentication"; a client offering neither gets X'FF' and the connection closes.
 * - A request must be SOCKS5 with a zero reserved byte (RFC 1928 §4). An address type other than
 *   IPv4, name and IPv6 is answered with reply 8, a command other than CONNECT, RESOLVE (0xF0) and
 *   RESOLVE_PTR (0xF1) with reply 7.
 * - A host name is 1–255 bytes of printable ASCII (it goes to the exit in a BEGIN cell as text) and
 *   a CONNECT needs a port; a request breaking either is answered with reply 1.
 */

export interface SocksRequest {
  readonly command: SocksCommand;
  readonly address: SocksAddress;
  /** The address as text: a name as the client sent it, an IP address in its usual form. */
  readonly host: string;
  readonly port: number;
  /** The credentials of RFC 1929, when the client authenticated. */
  readonly auth: SocksAuth | undefined;
}

export type SocksServerStep =
  /** Nothing to do until more bytes arrive. */
  | { readonly kind: 'need-more' }
  /** Send `reply`, drop `consumed` bytes from the input, and feed the rest again. */
  | { readonly kind: 'reply'; readonly consumed: number; readonly reply: Uint8Array }
  /** The handshake is done: serve `request` and answer it with encodeReply. Bytes after `consumed` are the client's early data. */
  | { readonly kind: 'request'; readonly consumed: number; readonly request: SocksRequest };

/** The client broke the protocol: send `reply` if there is one, then close the connection. */
export class SocksHandshakeError extends ProtocolError {
  readonly reply: Uint8Array | undefined;
  constructor(context: string, detail: string, offset: number, reply?: Uint8Array) {
    super(context, detail, offset);
    this.reply = reply;
  }
}

type State = 'greeting' | 'auth' | 'request' | 'done' | 'failed';

export class SocksServerHandshake {
  private state: State = 'greeting';
  private auth: SocksAuth | undefined;

  /**
   * Take the bytes received and not yet consumed. Throws SocksHandshakeError when they break the
   * protocol; the handshake is over then, as it is after a request.
   */
  step(input: Uint8Array): SocksServerStep {
    try {
      switch (this.state) {
        case 'greeting': return this.greeting(input);
        case 'auth': return this.authentication(input);
        case 'request': return this.request(input);
        default: throw new UsageError(`the SOCKS5 handshake is ${this.state === 'done' ? 'over' : 'failed'}: nothing more to feed it`);
      }
    } catch (e) {
      if (e instanceof SocksHandshakeError) this.state = 'failed';
      throw e;
    }
  }

  private greeting(buf: Uint8Array): SocksServerStep {
    const context = 'SOCKS5 greeting';
    if (buf.length < 2) return NEED_MORE;
    if (buf[0] !== SOCKS_VERSION) throw new SocksHandshakeError(context, `version ${buf[0]} is not SOCKS5`, 0);
    const length = 2 + buf[1]!;
    if (buf.length < length) return NEED_MORE;
    const methods = buf.subarray(2, length);
    if (methods.includes(SocksMethod.USERNAME_PASSWORD)) {
      this.state = 'auth';
      return { kind: 'reply', consumed: length, reply: encodeMethodChoice(SocksMethod.USERNAME_PASSWORD) };
    }
    if (methods.includes(SocksMethod.NO_AUTH)) {
      this.state = 'request';
      return { kind: 'reply', consumed: length, reply: encodeMethodChoice(SocksMethod.NO_AUTH) };
    }
    throw new SocksHandshakeError(context, 'the client offers neither "no authentication" nor username/password', 2, encodeMethodChoice(SocksMethod.NO_ACCEPTABLE));
  }

  private authentication(buf: Uint8Array): SocksServerStep {
    if (buf.length < 2) return NEED_MORE;
    if (buf[0] !== USERPASS_VERSION) throw new SocksHandshakeError('SOCKS5 username/password', `version ${buf[0]}, expected 1`, 0);
    const ulen = buf[1]!;
    if (buf.length < 2 + ulen + 1) return NEED_MORE;
    const plen = buf[2 + ulen]!;
    const length = 3 + ulen + plen;
    if (buf.length < length) return NEED_MORE;
    this.auth = { username: buf.slice(2, 2 + ulen), password: buf.slice(3 + ulen, length) };
    this.state = 'request';
    return { kind: 'reply', consumed: length, reply: encodeAuthStatus(0) };
  }

  private request(buf: Uint8Array): SocksServerStep {
    const context = 'SOCKS5 request';
    const refuse = (detail: string, offset: number, code: number) => new SocksHandshakeError(context, detail, offset, encodeReply(code));
    if (buf.length < 1) return NEED_MORE;
    if (buf[0] !== SOCKS_VERSION) throw new SocksHandshakeError(context, `version ${buf[0]} is not SOCKS5`, 0);
    if (buf.length < 4) return NEED_MORE;
    const atyp = buf[3];
    if (atyp !== AddressType.IPV4 && atyp !== AddressType.DOMAIN && atyp !== AddressType.IPV6) {
      throw refuse(`address type ${atyp} is not supported`, 3, SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
    }
    if (atyp === AddressType.DOMAIN && buf.length >= 5 + buf[4]!) {
      const problem = hostNameProblem(buf.subarray(5, 5 + buf[4]!));
      if (problem) throw refuse(problem, 4, SocksReply.GENERAL_FAILURE);
    }
    const fields = decodeRequest(buf);
    if (!fields) return NEED_MORE;
    if (fields.reserved !== 0) throw refuse(`reserved byte ${fields.reserved}, expected 0`, 2, SocksReply.GENERAL_FAILURE);
    const command = commandOf(fields.commandCode);
    if (!command) throw refuse(`command ${fields.commandCode} is not supported`, 1, SocksReply.COMMAND_NOT_SUPPORTED);
    if (command === 'CONNECT' && fields.port === 0) throw refuse('CONNECT to port 0', fields.length - 2, SocksReply.GENERAL_FAILURE);
    this.state = 'done';
    const request: SocksRequest = { command, address: fields.address, host: addressText(fields.address), port: fields.port, auth: this.auth };
    return { kind: 'request', consumed: fields.length, request };
  }
}

const NEED_MORE: SocksServerStep = { kind: 'need-more' };
