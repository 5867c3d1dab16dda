import { describe, expect, it } from 'vitest';
import { EndReason } from '../cells/index.ts';
import { CircuitError, StreamError } from '../util/index.ts';
import { describeSocksReply, SocksReply, socksReplyFor } from './reply.ts';

describe('socksReplyFor', () => {
  it('follows tor\'s mapping of END reasons', () => {
    expect(socksReplyFor(new StreamError('x', EndReason.RESOLVEFAILED))).toBe(SocksReply.HOST_UNREACHABLE);
    expect(socksReplyFor(new StreamError('x', EndReason.CONNECTREFUSED))).toBe(SocksReply.CONNECTION_REFUSED);
    expect(socksReplyFor(new StreamError('x', EndReason.EXITPOLICY))).toBe(SocksReply.NOT_ALLOWED);
    expect(socksReplyFor(new StreamError('x', EndReason.TIMEOUT))).toBe(SocksReply.TTL_EXPIRED);
    expect(socksReplyFor(new StreamError('x', EndReason.NOROUTE))).toBe(SocksReply.NETWORK_UNREACHABLE);
    expect(socksReplyFor(new StreamError('x', EndReason.MISC))).toBe(SocksReply.GENERAL_FAILURE);
    expect(socksReplyFor(new StreamError('x', EndReason.DESTROY))).toBe(SocksReply.GENERAL_FAILURE);
    expect(socksReplyFor(new StreamError('x'))).toBe(SocksReply.GENERAL_FAILURE);
  });

  it('is a general failure for anything that is not an exit\'s answer', () => {
    expect(socksReplyFor(new CircuitError('no circuit'))).toBe(1);
    expect(socksReplyFor(new Error('bug'))).toBe(1);
    expect(socksReplyFor('not an error')).toBe(1);
  });
});

describe('describeSocksReply', () => {
  it('names RFC 1928\'s codes and tor\'s onion-service codes', () => {
    expect(describeSocksReply(5)).toBe('connection refused');
    expect(describeSocksReply(SocksReply.ONION_DESCRIPTOR_NOT_FOUND)).toBe('onion service descriptor can not be found');
    expect(describeSocksReply(0x42)).toBe('unknown reply 66');
  });
});
