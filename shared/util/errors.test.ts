import { describe, expect, it } from 'vitest';
import { CertificateError, ChannelError, CircuitError, HandshakeError, ProtocolError, RelayCryptoError, StreamError, TelescopeError, TimeoutError, UsageError } from './errors.ts';

describe('TelescopeError kinds', () => {
  it('each class has its default kind, so existing throw sites need no change', () => {
    expect(new TelescopeError('x').kind).toBe('other');
    expect(new ProtocolError('CERTS cell', 'truncated').kind).toBe('protocol-violation');
    expect(new HandshakeError('ntor', 'AUTH does not verify').kind).toBe('handshake-failed');
    expect(new CertificateError('CERTS cell', 'bad').kind).toBe('certificate-invalid');
    expect(new RelayCryptoError('digest').kind).toBe('relay-cell-rejected');
    expect(new UsageError('bug').kind).toBe('usage');
    expect(new ChannelError('closed').kind).toBe('channel-failed');
    expect(new CircuitError('destroyed', 9).kind).toBe('circuit-failed');
    expect(new StreamError('refused', 4).kind).toBe('stream-failed');
    expect(new TimeoutError('late').kind).toBe('timeout');
    // A subclass without its own default inherits its parent's.
    class HostError extends ChannelError {}
    expect(new HostError('x').kind).toBe('channel-failed');
  });

  it('a throw site can name another kind and the structured fields', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const until = new Date('2025-12-31T00:00:00Z');
    const e = new CertificateError('authority certificate AB', 'expired', { kind: 'certificate-expired', document: 'authority-certificate', validUntil: until, now });
    expect(e.kind).toBe('certificate-expired');
    expect(e.document).toBe('authority-certificate');
    expect(e.validUntil).toBe(until);
    expect(e.now).toBe(now);
    expect(e.validAfter).toBeUndefined();
    const t = new TimeoutError('link handshake timed out', { peer: 'ws://127.0.0.1:1/', phase: 'link-handshake' });
    expect([t.peer, t.phase]).toEqual(['ws://127.0.0.1:1/', 'link-handshake']);
  });

  it('keeps Error semantics: name, message, and cause only when given', () => {
    const inner = new Error('inner');
    const e = new ProtocolError('relay header', 'bad length', 3, { cause: inner });
    expect(e.name).toBe('ProtocolError');
    expect(e.message).toBe('relay header: bad length (at byte 3)');
    expect([e.context, e.detail, e.offset]).toEqual(['relay header', 'bad length', 3]);
    expect(e.cause).toBe(inner);
    expect('cause' in new ChannelError('x')).toBe(false);
    expect('cause' in new ChannelError('x', { cause: undefined })).toBe(true);
  });
});
