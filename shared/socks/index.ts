/**
 * SOCKS5 without I/O (RFC 1928, RFC 1929, tor's RESOLVE and RESOLVE_PTR): the server's handshake
 * used by the Node SOCKS port and the extension's endpoint for libcurl, the client's handshake
 * used by tests and benchmarks, the messages of both, and the one mapping from stream failures to
 * reply codes.
 */
export { SocksClientHandshake, SocksError, type SocksClientStep } from './client.ts';
export { describeSocksReply, SocksReply, socksReplyFor } from './reply.ts';
export { SocksHandshakeError, SocksServerHandshake, type SocksRequest, type SocksServerStep } from './server.ts';
export {
  addressFor, addressText, AddressType, decodeAuthStatus, decodeMethodChoice, decodeReply, decodeRequest, encodeAuthStatus,
  encodeGreeting, encodeMethodChoice, encodeReply, encodeRequest, encodeUserPassAuth, SocksCommandCode, SocksMethod,
  UNSPECIFIED_ADDRESS, type RequestFields, type SocksAddress, type SocksAuth, type SocksCommand, type SocksReplyMessage, type SocksTarget,
} from './wire.ts';
