import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAuthCerts, parseConsensus, ProtocolList } from '../netdoc/index.ts';
import { MissingProtocolsError } from '../directory/index.ts';
import { CertificateError, ChannelError, CircuitError, HandshakeError, NetworkUnreachableError, ProtocolError, TelescopeError, TimeoutError } from '../util/index.ts';
import { Channel, WebSocketTransport, type ByteTransport, type WebSocketLike } from '../channel/index.ts';
import { thrown } from '../testing/thrown.ts';
import td2Consensus from '../netdoc/fixtures/testdata2/cached-microdesc-consensus.txt?raw';
import td2Certs from '../netdoc/fixtures/testdata2/cached-certs.txt?raw';
import { classifyBootstrapFailure, clockSkewFromNetinfo, formatDuration, noBridgeProblem, type BootstrapProblem, type ProblemContext } from './bootstrap-problem.ts';

const URL_A = 'ws://127.0.0.1:9101/';
const URL_B = 'wss://bridge.example:443/tor';
const ctx: ProblemContext = { bridges: [URL_A, URL_B] };

// The testdata2 consensus (tor 0.4.9) is valid 2000-01-01 00:02:20 to 00:03:00.
const consensus = parseConsensus(td2Consensus);
const validNow = new Date('2000-01-01T00:02:30Z');
const certs = parseAuthCerts(td2Certs).map((c) => c.check(validNow));
const verifyAt = (now: Date, authorities = certs.map((c) => ({ fingerprint: c.fingerprint }))) =>
  thrown(() => consensus.check(authorities, certs, now, { skewMs: 5 * 60_000 }));
// The testdata2 authority certificates are valid from 2000-01-01 00:00:05 to 2001-01-01 00:00:05.
const authCertAt = (now: Date) => thrown(() => parseAuthCerts(td2Certs)[0]!.check(now));

/** A WebSocket that fails before it opens, as a browser's does when nothing listens. */
class UnreachableWebSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    queueMicrotask(() => this.onerror?.({}));
  }
  send(): void {}
  close(): void {}
}
const webSocketFailure = (url: string) => WebSocketTransport.connect(url, { WebSocket: UnreachableWebSocket }).then(() => expect.fail('connected'), (e: unknown) => e);

/** A transport whose peer accepted the connection and then says nothing (or hangs up). */
function silentPeer(description: string): ByteTransport {
  return { description, send() {}, close() {}, onData: undefined, onClose: undefined };
}
const linkHandshakeTimeout = (url: string) => Channel.open(silentPeer(url), { timeoutMs: 1 }).then(() => expect.fail('opened'), (e: unknown) => e);
function linkHandshakeHangUp(url: string): Promise<unknown> {
  const transport = silentPeer(url);
  const opening = Channel.open(transport).then(() => expect.fail('opened'), (e: unknown) => e);
  transport.onClose?.(new Error('connection reset'));
  return opening;
}

/**
 * Every error a test below classifies as something specific, with its context: the rewording
 * test replays them with their messages replaced.
 */
const classified: { error: unknown; context: ProblemContext; problem: BootstrapProblem }[] = [];
function classify(error: unknown, context: ProblemContext = ctx): BootstrapProblem {
  const problem = classifyBootstrapFailure(error, context);
  classified.push({ error, context, problem });
  return problem;
}

describe('classifyBootstrapFailure', () => {
  it('a WebSocket that never opens: the Tor network cannot be reached, naming the bridge the error names', async () => {
    const p = classify(await webSocketFailure(URL_B));
    expect(p.kind).toBe('bridge-unreachable');
    expect(p.errorKind).toBe('channel-failed');
    expect(p.bridge).toBe(URL_B);
    expect(p.message).toBe(`Cannot reach the Tor network: the bridge ${URL_B} does not answer`);
    expect(p.hint).toMatch(/running/);
  });

  it('a link handshake that fails: bridge unreachable, with the fingerprint hint', () => {
    for (const e of [
      new HandshakeError('link', 'no common link protocol version'),
      new CertificateError('CERTS cell', 'RSA identity is not the expected one'),
    ]) {
      const p = classify(e);
      expect(p.kind, e.message).toBe('bridge-unreachable');
      expect(p.bridge, e.message).toBe(URL_A); // not named: the first (directory) bridge
      expect(p.message, e.message).toMatch(/handshake failed/);
      expect(p.hint, e.message).toMatch(/fingerprint/);
    }
  });

  it('a bridge that accepts the connection but times out or hangs up in the link handshake: the bridge named, fingerprint hint', async () => {
    for (const e of [await linkHandshakeTimeout(URL_B), await linkHandshakeHangUp(URL_B)]) {
      expect(e).toBeInstanceOf(TelescopeError);
      expect((e as TelescopeError).phase).toBe('link-handshake');
      const p = classify(e);
      expect(p.kind).toBe('bridge-unreachable');
      expect(p.bridge).toBe(URL_B);
      expect(p.message).toBe(`Cannot reach the Tor network: the bridge ${URL_B} answered, but the Tor link handshake failed`);
      expect(p.hint).toMatch(/fingerprint/);
    }
  });

  it('no fallback or authority answered a first bootstrap: cannot reach the Tor network, not a bridge problem', () => {
    const refused = new ChannelError('connect 127.0.0.1:1: refused', { phase: 'connect', peer: '127.0.0.1:1' });
    const e = new NetworkUnreachableError({ tried: { fallbacks: 3, authorities: 1 }, total: { fallbacks: 200, authorities: 9 }, outcomes: { 'connection failed': 4 }, why: 'every one failed', cause: refused });
    const p = classifyBootstrapFailure(new TelescopeError('bootstrap stalled', { cause: e }), { bridges: [] });
    expect(p.kind).toBe('network-unreachable');
    expect(p.message).toBe('Cannot reach the Tor network');
    expect(p.hint).toMatch(/Internet connection.*bridge/);
    expect(p.detail).toBe(e.message);
    expect(p.errorKind).toBe('network-unreachable');
  });

  it('a timeout elsewhere (a circuit, a directory fetch) is not blamed on the bridge', () => {
    expect(classifyBootstrapFailure(new TimeoutError(`circuit 7: no answer to CREATE2 in 100 ms (${URL_A})`), ctx).kind).toBe('failed');
  });

  it('a consensus requiring protocols we lack: too old for the network, naming them, read from the structured fields', () => {
    const e = new MissingProtocolsError('client', ProtocolList.parse('Relay=3-4 FlowCtrl=2'), new Date('2027-01-01T00:00:00Z'));
    const p = classifyBootstrapFailure(new TelescopeError('bootstrap stopped', { cause: e }), ctx);
    expect(p.kind).toBe('protocols-missing');
    expect(p.errorKind).toBe('protocols-missing');
    expect(p.missingProtocols).toBe('FlowCtrl=2 Relay=3-4');
    expect(p.message).toBe('This version of Telescope is too old for the Tor network: the network requires protocols it does not implement (FlowCtrl=2 Relay=3-4)');
    expect(p.hint).toMatch(/^Update Telescope/);
    // Not the bridge's fault, and not something the settings fix.
    expect(p.bridge).toBeUndefined();
  });

  it('looks through the cause chain ("bootstrap stalled" wraps what stalled it)', () => {
    const inner = new ChannelError(`WebSocket to ${URL_A} failed (bridge unreachable?)`, { peer: URL_A, phase: 'connect' });
    const outer = new TelescopeError('bootstrap stalled in phase need-consensus: 1 directory request(s) keep failing', { cause: inner });
    const p = classify(outer);
    expect(p.kind).toBe('bridge-unreachable');
    expect(p.detail).toBe(inner.message);
  });

  it('signatures of other authorities: consensus not valid, pointing at the DirAuthority lines', () => {
    const wrong = [{ fingerprint: '00'.repeat(20) }, { fingerprint: '11'.repeat(20) }, { fingerprint: '22'.repeat(20) }];
    const p = classify(verifyAt(validNow, wrong));
    expect(p.kind).toBe('consensus-invalid');
    expect(p.errorKind).toBe('not-enough-signatures');
    expect(p.message).toBe('Consensus not valid: 0 of 3 configured authorities signed it, 2 needed');
    expect(p.hint).toMatch(/DirAuthority/);
    expect(p.hint).toMatch(/v3ident/);
  });

  it('a consensus the built-in authorities did not sign: says so, and points at the bridge\'s network rather than lines nobody typed', () => {
    const wrong = [{ fingerprint: '00'.repeat(20) }, { fingerprint: '11'.repeat(20) }, { fingerprint: '22'.repeat(20) }];
    const p = classify(verifyAt(validNow, wrong), { ...ctx, authoritySet: 'built-in' });
    expect(p.kind).toBe('consensus-invalid');
    expect(p.message).toBe('Consensus not valid: 0 of 3 built-in authorities signed it, 2 needed');
    expect(p.hint).toMatch(/network other than the one whose authorities are built in/);
    expect(p.hint).not.toMatch(/v3ident/);
    expect(classify(verifyAt(validNow, wrong), { ...ctx, authoritySet: 'configured' }).message).toBe('Consensus not valid: 0 of 3 configured authorities signed it, 2 needed');
  });

  it('an authority certificate that does not verify: consensus not valid', () => {
    // The fingerprint line no longer matches the identity key.
    const forged = td2Certs.replace(/^fingerprint [0-9A-F]{40}$/m, `fingerprint ${'AB'.repeat(20)}`);
    const e = thrown(() => parseAuthCerts(forged)[0]!.check(validNow));
    expect(e).toBeInstanceOf(CertificateError);
    const p = classify(e);
    expect(p.kind).toBe('consensus-invalid');
    expect(p.message).toBe('Consensus not valid: an authority key certificate does not verify');
  });

  it('a consensus not yet valid by our clock: clock skew, behind by at least the distance', () => {
    // 2 h before valid-after: our clock is behind by at least that much (the tolerance aside).
    const p = classify(verifyAt(new Date('1999-12-31T22:02:20Z')));
    expect(p.kind).toBe('clock-skew');
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be at least 2 h behind');
    expect(p.clockSkewMs).toBe(-2 * 3600_000);
    expect(p.hint).toMatch(/time/);
  });

  it('an expired consensus: clock skew, ahead', () => {
    const p = classify(verifyAt(new Date('2000-01-02T03:33:00Z')));
    expect(p.kind).toBe('clock-skew');
    expect(p.clockSkewMs).toBe((27 * 60 + 30) * 60_000);
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be at least 27 h 30 min ahead');
  });

  it('prefers the bridge\'s NETINFO clock, which measures the skew instead of bounding it', () => {
    const p = classify(verifyAt(new Date('1999-12-31T22:02:20Z')), { ...ctx, peerClockSkewMs: -(3 * 3600_000 + 10 * 60_000) });
    expect(p.message).toBe('Clock skew: this computer\'s clock seems to be 3 h 10 min behind');
  });

  it('an authority certificate from the future or expired: clock skew without an amount', () => {
    const future = classify(authCertAt(new Date('1999-06-01T00:00:00Z')));
    expect(future.kind).toBe('clock-skew');
    expect(future.message).toBe('Clock skew: this computer\'s clock seems to be behind');
    expect(future.errorKind).toBe('certificate-not-yet-valid');
    const expired = classify(authCertAt(new Date('2002-01-01T00:00:00Z')));
    expect(expired.message).toBe('Clock skew: this computer\'s clock seems to be ahead');
    expect(expired.errorKind).toBe('certificate-expired');
  });

  it('without bridges, a relay that does not answer is not blamed on a bridge (a Node client on the network itself)', () => {
    const p = classifyBootstrapFailure(new ChannelError('TLS to 127.0.0.1:5000 failed', { peer: '127.0.0.1:5000', phase: 'connect' }), { bridges: [] });
    expect(p.kind).toBe('failed');
    expect(p.message).toContain('TLS to 127.0.0.1:5000 failed');
  });

  it('no bridge configured: the extension says so before it starts a client', () => {
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

  // Last in this block: it replays what the tests above classified.
  it('rewording any error does not change the advice: kinds and fields decide, not messages', () => {
    expect(new Set(classified.map((c) => c.problem.kind))).toEqual(new Set(['bridge-unreachable', 'clock-skew', 'consensus-invalid']));
    const nonsense = [
      '',
      'qwfp luy zxcv',
      // The words and names the classifier once looked for, in the wrong places.
      `authority certificate expired at published in the future; link handshake with ${URL_A} closed during the link handshake; ${URL_B}`,
    ];
    const advice = (p: BootstrapProblem) => ({ ...p, detail: undefined });
    for (const { error, context, problem } of classified) {
      const chain: Error[] = [];
      for (let e: unknown = error; e instanceof Error && !chain.includes(e); e = e.cause) chain.push(e);
      const original = chain.map((e) => e.message);
      try {
        for (const words of nonsense) {
          for (const e of chain) e.message = words;
          expect(advice(classifyBootstrapFailure(error, context)), `${original[0]} → "${words}"`).toEqual(advice(problem));
        }
      } finally {
        chain.forEach((e, i) => { e.message = original[i]!; });
      }
    }
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
