import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes, utf8 } from '../bytes/index.ts';
import { ProtocolError, TelescopeError, UsageError } from '../util/index.ts';
import { SocksClientHandshake, SocksError } from './client.ts';
import { SocksServerHandshake, type SocksRequest } from './server.ts';
import { addressFor, encodeReply, type SocksAuth, type SocksCommand } from './wire.ts';

/** Run a client against the server handshake in memory; the server answers `code` (and `bound`). */
function converse(client: SocksClientHandshake, code: number, bound = '0.0.0.0'): { request: SocksRequest | undefined; result: unknown } {
  const server = new SocksServerHandshake();
  let toServer: Uint8Array = client.greeting;
  let toClient: Uint8Array = new Uint8Array(0);
  let request: SocksRequest | undefined;
  for (let turn = 0; turn < 10; turn++) {
    for (let s = server.step(toServer); s.kind !== 'need-more'; s = server.step(toServer)) {
      toServer = toServer.subarray(s.consumed);
      if (s.kind === 'reply') toClient = concatBytes(toClient, s.reply);
      else {
        request = s.request;
        toClient = concatBytes(toClient, encodeReply(code, addressFor(bound), 0));
        break;
      }
    }
    try {
      for (let c = client.step(toClient); c.kind !== 'need-more'; c = client.step(toClient)) {
        toClient = toClient.subarray(c.consumed);
        if (c.kind === 'done') return { request, result: c.reply };
        toServer = concatBytes(toServer, c.send);
      }
    } catch (e) {
      return { request, result: e };
    }
  }
  throw new Error('the handshake did not finish');
}

describe('SocksClientHandshake', () => {
  it('offers "no authentication" and sends a CONNECT by name', () => {
    const client = new SocksClientHandshake({ host: 'web.example', port: 80 });
    expect([...client.greeting]).toEqual([5, 1, 0]);
    const step = client.step(Uint8Array.of(5, 0));
    expect(step).toEqual({ kind: 'send', consumed: 2, send: Uint8Array.of(5, 1, 0, 3, 11, ...utf8('web.example'), 0, 80) });
    expect(client.step(Uint8Array.of(5, 0, 0, 1, 127, 0, 0))).toEqual({ kind: 'need-more' });
    expect(client.step(Uint8Array.of(5, 0, 0, 1, 127, 0, 0, 1, 0, 80, 72))).toMatchObject({ kind: 'done', consumed: 10 });
    expect(() => client.step(new Uint8Array(4))).toThrow(UsageError);
  });

  it('offers only username/password when it has credentials, and sends them', () => {
    const auth = { username: utf8('bench-1'), password: utf8('bench') };
    const client = new SocksClientHandshake({ host: '127.0.0.1', port: 8080, auth });
    expect([...client.greeting]).toEqual([5, 1, 2]);
    expect(client.step(Uint8Array.of(5, 2))).toMatchObject({ kind: 'send', send: Uint8Array.of(1, 7, ...utf8('bench-1'), 5, ...utf8('bench')) });
    expect(client.step(Uint8Array.of(1, 0))).toMatchObject({ kind: 'send', send: Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90) });
  });

  it('reports a refusal as SocksError with the code, a server\'s other answers as ProtocolError', () => {
    const refused = converse(new SocksClientHandshake({ host: 'refused.example', port: 80 }), 5).result;
    expect(refused).toBeInstanceOf(SocksError);
    expect((refused as SocksError).reply).toBe(5);
    expect((refused as SocksError).message).toContain('refused.example:80');
    expect((refused as SocksError).message).toContain('connection refused');
    expect(() => new SocksClientHandshake({ host: 'a', port: 1 }).step(Uint8Array.of(5, 0xff))).toThrow(ProtocolError);
    const withAuth = new SocksClientHandshake({ host: 'a', port: 1, auth: { username: utf8('u'), password: utf8('p') } });
    withAuth.step(Uint8Array.of(5, 2));
    expect(() => withAuth.step(Uint8Array.of(1, 1))).toThrow(ProtocolError);
  });

  it('gets through the server handshake with what it asked for (property)', () => {
    const host = fc.oneof(
      fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,4}$/),
      fc.ipV4(),
      fc.ipV6().map((h) => `[${h}]`),
    );
    const auth = fc.option(fc.record({ username: fc.uint8Array({ maxLength: 255 }), password: fc.uint8Array({ maxLength: 255 }) }), { nil: undefined });
    fc.assert(fc.property(fc.constantFrom<SocksCommand>('CONNECT', 'RESOLVE', 'RESOLVE_PTR'), host, fc.integer({ min: 1, max: 65535 }), auth, (command, h, port, a: SocksAuth | undefined) => {
      const client = new SocksClientHandshake({ command, host: h, port, ...(a ? { auth: a } : {}) });
      const { request, result } = converse(client, 0, '10.1.2.3');
      expect(request).toMatchObject({ command, address: addressFor(h), port, auth: a });
      expect(result).toMatchObject({ code: 0, address: addressFor('10.1.2.3') });
    }), { numRuns: 300 });
  });

  it('gives a typed error or a step for random server bytes, never another exception', () => {
    fc.assert(fc.property(fc.boolean(), fc.uint8Array({ maxLength: 300 }), (withAuth, bytes) => {
      const client = new SocksClientHandshake({ host: 'x.example', port: 443, ...(withAuth ? { auth: { username: utf8('u'), password: utf8('p') } } : {}) });
      let buf = bytes;
      try {
        for (let s = client.step(buf); s.kind === 'send'; s = client.step(buf)) buf = buf.subarray(s.consumed);
      } catch (e) {
        expect(e).toBeInstanceOf(TelescopeError);
      }
    }), { numRuns: 2000 });
  });
});
