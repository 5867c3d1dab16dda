import { EndReason } from '../cells/index.ts';
import { StreamError } from '../util/index.ts';

/** The REP field of a SOCKS5 reply (RFC 1928 §6), with tor's extended codes for onion services. */
export const SocksReply = {
  SUCCEEDED: 0,
  GENERAL_FAILURE: 1,
  NOT_ALLOWED: 2,
  NETWORK_UNREACHABLE: 3,
  HOST_UNREACHABLE: 4,
  CONNECTION_REFUSED: 5,
  TTL_EXPIRED: 6,
  COMMAND_NOT_SUPPORTED: 7,
  ADDRESS_TYPE_NOT_SUPPORTED: 8,
  ONION_DESCRIPTOR_NOT_FOUND: 0xf0,
  ONION_DESCRIPTOR_INVALID: 0xf1,
  ONION_INTRODUCTION_FAILED: 0xf2,
  ONION_RENDEZVOUS_FAILED: 0xf3,
  ONION_MISSING_CLIENT_AUTH: 0xf4,
  ONION_WRONG_CLIENT_AUTH: 0xf5,
  ONION_INVALID_ADDRESS: 0xf6,
  ONION_INTRODUCTION_TIMED_OUT: 0xf7,
} as const;

const REPLY_TEXT: Readonly<Record<number, string>> = {
  0: 'succeeded',
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
  0xf0: 'onion service descriptor can not be found',
  0xf1: 'onion service descriptor is invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service missing client authorization',
  0xf5: 'onion service wrong client authorization',
  0xf6: 'onion service invalid address',
  0xf7: 'onion service introduction timed out',
};

/** A reply code as a person reads it in a log or an error message. */
export function describeSocksReply(code: number): string {
  return REPLY_TEXT[code] ?? `unknown reply ${code}`;
}

/**
 * The reply a SOCKS server gives when opening or resolving failed with `e`: the END reason an exit
 * sent, mapped as tor maps it; anything else (a circuit that could not be built, a bug) is a
 * general failure, which tells the application nothing it could misread.
 */
export function socksReplyFor(e: unknown): number {
  const reason = e instanceof StreamError ? e.reason : undefined;
  switch (reason) {
    case EndReason.RESOLVEFAILED: return SocksReply.HOST_UNREACHABLE;
    case EndReason.CONNECTREFUSED: return SocksReply.CONNECTION_REFUSED;
    case EndReason.EXITPOLICY: return SocksReply.NOT_ALLOWED;
    case EndReason.TIMEOUT: return SocksReply.TTL_EXPIRED;
    case EndReason.NOROUTE: return SocksReply.NETWORK_UNREACHABLE;
    default: return SocksReply.GENERAL_FAILURE;
  }
}
