import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAuthCerts, parseConsensus, verifyConsensus } from '../netdoc/index.ts';
import { CertificateError, ChannelError, CircuitError, HandshakeError, ProtocolError, TelescopeError, TimeoutError } from '../util/index.ts';
import { thrown } from '../testing/thrown.ts';
import td2Consensus from '../netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../netdoc/fixtures/testdata2/cached-certs.txt?raw';
import { classifyBootstrapFailure, clockSkewFromNetinfo, formatDuration, noBridgeProblem, type ProblemContext } from './bootstrap-problem.ts';

const URL_A = 'ws://127.0.0.1:9101/';
const URL_B = 'wss://bridge.example:443/tor';
const ctx: ProblemContext = { bridges: [URL_A, URL_B] };

// The testdata2 consensus (tor 0.4.9) is valid 2000-01-01 00:02:20 to 00:03:00.
const consensus = parseConsensus(td2Consensus);
const validNow = new Date('2000-01-01T00:02:30Z');
const certs = parseAuthCerts(td2Certs).map((c) => c.verify(validNow));
const verifyAt = (now: Date, authorities = certs.map((c) => ({ fingerprint: c.fingerprint }))) =>
  thrown(() => verifyConsensus(consensus, authorities, certs, now, { skewMs: 5 * 60_000 }));

describe('classifyBootstrapFailure', () => {
  it('a WebSocket that never opens: bridge unreachable, naming the URL from the error', () => {
    const p = classifyBootstrapFailure(new ChannelError(`WebSocket to ${URL_B} failed (bridge unreachable?)`), ctx);
    expect(p.kind).toBe('bridge-unreachable');
    expect(p.bridge).toBe(URL_B);
    expect(p.message).toBe(`Bridge unreachable: ${URL_B}`);
    expect(p.hint).toMatch(/running/);
  });

  it('a link handshake that fails: bridge unreachable, with the fingerprint hint', () => {
    for (const e of [
      new HandshakeError('link', 'no common link protocol version'),
      new CertificateError('CERTS cell', 'RSA identity is not the expected one'),
      new TimeoutError(`link handshake with ${URL_A} timed out`),
      new ChannelError(`${URL_A} closed during the link handshake`),
    ]) {
      const p = classifyBootstrapFailure(e, ctx);
      expect(p.kind, e.message).toBe('bridge-unreachable');
      expect(p.bridge, e.message).toBe(URL_A); // not named: the first (directory) bridge
      expect(p.message, e.message).toMatch(/handshake failed/);
      expect(p.hint, e.message).toMatch(/fingerprint/);
    }
  });

  it('looks through the cause chain ("bootstrap stalled" wraps what stalled it)', () => {
    const inner = new ChannelError(`WebSocket to ${URL_A} failed (bridge unreachable?)`);
    const outer = new TelescopeError('bootstrap stalled in phase need-consensus: 1 directory request(s) keep failing', { cause: inner });
    const p = classifyBootstrapFailure(outer, ctx);
    expect(p.kind).toBe('bridge-unreachable');
    expect(p.detail).toBe(inner.message);
  });

  it('signatures of other authorities: consensus not valid, pointing at the DirAuthority lines', () => {
    const wrong = [{ fingerprint: '00'.repeat(20) }, { fingerprint: '11'.repeat(20) }, { fingerprint: '22'.repeat(20) }];
    const p = classifyBootstrapFailure(verifyAt(validNow, wrong), ctx);
    expect(p.kind).toBe('consensus-invalid');
    expect(p.message).toBe('Consensus not valid: 0 of 3 configured authorities signed it, 2 needed');
    expect(p.hint).toMatch(/DirAuthority/);
    expect(p.hint).toMatch(/v3ident/);
  });

  it('an authority certificate that does not verify: consensus not valid', () => {
    const p = classifyBootstrapFailure(new CertificateError('authority certificate ABCD', 'dir-key-crosscert signature by the signing key does not verify'), ctx);
    expect(p.kind).toBe('consensus-invalid');
  });

  it('a consensus not yet valid by our clock: clock skew, behind by at least the distance', () => {
    // 2 h before valid-after: our clock is behind by at least that much (the tolerance aside).
    const p = classifyBootstrapFailure(verifyAt(new Date('1999-12-31T22:02:20Z')), ctx);
    expect(p.kind).toBe('clock-skew');
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be at least 2 h behind');
    expect(p.clockSkewMs).toBe(-2 * 3600_000);
    expect(p.hint).toMatch(/time/);
  });

  it('an expired consensus: clock skew, ahead', () => {
    const p = classifyBootstrapFailure(verifyAt(new Date('2000-01-02T03:33:00Z')), ctx);
    expect(p.kind).toBe('clock-skew');
    expect(p.clockSkewMs).toBe((27 * 60 + 30) * 60_000);
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be at least 27 h 30 min ahead');
  });

  it('prefers the bridge\'s NETINFO clock, which measures the skew instead of bounding it', () => {
    const p = classifyBootstrapFailure(verifyAt(new Date('1999-12-31T22:02:20Z')), { ...ctx, peerClockSkewMs: -(3 * 3600_000 + 10 * 60_000) });
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be 3 h 10 min behind');
  });

  it('an authority certificate from the future or expired: clock skew without an amount', () => {
    const future = classifyBootstrapFailure(new CertificateError('authority certificate ABCD', 'published in the future (2030-01-01T00:00:00.000Z)'), ctx);
    expect(future.kind).toBe('clock-skew');
    expect(future.message).toBe('Clock skew: this computer\'s clock seems to be behind');
    const expired = classifyBootstrapFailure(new CertificateError('authority certificate ABCD', 'expired at 2001-01-01T00:00:05.000Z'), ctx);
    expect(expired.message).toBe('Clock skew: this computer\'s clock seems to be ahead');
  });

  it('no bridge configured when there is none to blame', () => {
    expect(classifyBootstrapFailure(new ChannelError('WebSocket to x failed'), { bridges: [] }).kind).toBe('no-bridge');
    expect(noBridgeProblem().message).toBe('No bridge configured');
    expect(noBridgeProblem().hint).toMatch(/Settings/);
  });

  it('anything else: a generic failure that still says what happened', () => {
    for (const e of [new CircuitError('circuit 5 destroyed: 9'), new ProtocolError('consensus', 'bad line'), new Error('bug'), 'string']) {
      const p = classifyBootstrapFailure(e, ctx);
      expect(p.kind).toBe('failed');
      expect(p.message).toContain(e instanceof Error ? e.message : e);
    }
  });

  it('a thrown value whose toString is broken is still classified (fast-check counterexample)', () => {
    for (const odd of [{ toString: '' }, Object.create(null) as unknown]) {
      const p = classifyBootstrapFailure(odd, { bridges: [] });
      expect(p.kind).toBe('failed');
      expect(p.message.length).toBeGreaterThan(0);
    }
  });

  it('never throws, whatever it is given (property)', () => {
    const errors = fc.oneof(
      fc.string().map((m) => new ChannelError(m)),
      fc.string().map((m) => new TimeoutError(m)),
      fc.tuple(fc.string(), fc.string()).map(([c, d]) => new CertificateError(c, d)),
      fc.string().map((m) => new TelescopeError(m, { cause: new ChannelError(m) })),
      fc.anything(),
    );
    fc.assert(fc.property(errors, fc.array(fc.string(), { maxLength: 3 }), fc.option(fc.integer()), (e, bridges, skew) => {
      const p = classifyBootstrapFailure(e, { bridges, ...(skew === null ? {} : { peerClockSkewMs: skew }) });
      expect(['no-bridge', 'bridge-unreachable', 'clock-skew', 'consensus-invalid', 'failed']).toContain(p.kind);
      expect(p.message.length).toBeGreaterThan(0);
      expect(p.hint.length).toBeGreaterThan(0);
    }));
  });

  it('survives a cause cycle', () => {
    const a = new TelescopeError('a');
    const b = new TelescopeError('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(classifyBootstrapFailure(a, ctx).kind).toBe('failed');
  });
});

describe('clockSkewFromNetinfo', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  it('warns past an hour, either way, and says by how much', () => {
    expect(clockSkewFromNetinfo(new Date(now.getTime() - 59 * 60_000), now)).toBeUndefined();
    const ahead = clockSkewFromNetinfo(new Date(now.getTime() - 2 * 3600_000 - 5 * 60_000), now)!;
    expect(ahead.kind).toBe('clock-skew');
    expect(ahead.message).toBe('Clock skew: this computer\'s clock seems to be 2 h 5 min ahead');
    expect(ahead.clockSkewMs).toBe(2 * 3600_000 + 5 * 60_000);
    expect(clockSkewFromNetinfo(new Date(now.getTime() + 3 * 86400_000), now)!.message).toMatch(/3 days behind$/);
  });
  it('ignores a peer that does not tell its time (timestamp 0)', () => {
    expect(clockSkewFromNetinfo(new Date(0), now)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect(formatDuration(20_000)).toBe('20 s');
    expect(formatDuration(45 * 60_000)).toBe('45 min');
    expect(formatDuration(3600_000)).toBe('1 h');
    expect(formatDuration(-(3600_000 + 60_000))).toBe('1 h 1 min');
    expect(formatDuration(50 * 3600_000)).toBe('2 days 2 h');
  });
});
