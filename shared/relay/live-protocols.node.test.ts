import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { parseAuthCerts } from '../netdoc/index.ts';
import { DirectoryState, MissingProtocolsError, PROTOCOL_LISTS_DATE, type SoftwareProtocols } from '../directory/index.ts';
import { TELESCOPE_CLIENT_PROTOCOLS } from '../client/index.ts';
import { TELESCOPE_RELAY_PROTOCOLS } from './protocols.ts';

/**
 * What the protocol check does with the public network's consensus of 2026-01-29
 * (netdoc/fixtures/live-2026-01-29/): its required-client-protocols are
 * "Cons=2 Desc=2 FlowCtrl=1 Link=4 Microdesc=2 Relay=2", its required-relay-protocols
 * "Cons=2 Desc=2 DirCache=2 FlowCtrl=1-2 HSDir=2 HSIntro=4-5 HSRend=2 Link=4-5 LinkAuth=3 Microdesc=2 Relay=2-4".
 * The consensus predates PROTOCOL_LISTS_DATE, so by default it is not checked (tor's and Arti's
 * rule); these tests move the lists' date before it to see what a consensus like it, published
 * today, does to Telescope.
 */
const fixtures = new URL('../netdoc/fixtures/live-2026-01-29/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));
const text = new TextDecoder().decode(brotliDecompressSync(read('consensus-microdesc.br')));
const certsText = new TextDecoder().decode(read('authority-certs.txt'));
const now = new Date('2026-01-29T07:30:00Z');
const authorities = parseAuthCerts(certsText).map((c) => ({ fingerprint: c.unchecked.fingerprint }));
const before = new Date('2026-01-01T00:00:00Z');

function directory(protocols: SoftwareProtocols): DirectoryState {
  const d = new DirectoryState(authorities, { protocols });
  d.addCerts(certsText, now);
  return d;
}

describe('the protocol check against the live consensus of 2026-01-29', () => {
  it('the client is accepted, with a warning naming the recommended protocols it lacks', () => {
    const d = directory({ role: 'client', supported: TELESCOPE_CLIENT_PROTOCOLS, listsDate: before });
    expect(d.addConsensus(text, now)).toBe('accepted');
    expect(d.current?.routers.length).toBe(9745);
    expect(d.protocolWarning).toContain('recommends protocols this version of Telescope does not implement: FlowCtrl=2 Relay=3-4.');
    expect(TELESCOPE_CLIENT_PROTOCOLS.supportsAll(d.current!.requiredClientProtocols)).toBe(true);
  });

  it('the relay is refused: the network requires relay protocols it does not implement, named in the error', () => {
    const d = directory({ role: 'relay', supported: TELESCOPE_RELAY_PROTOCOLS, listsDate: before });
    let error: unknown;
    try {
      d.addConsensus(text, now);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingProtocolsError);
    const e = error as MissingProtocolsError;
    expect(e.role).toBe('relay');
    expect(e.missing.toString()).toBe('FlowCtrl=2 HSDir=2 HSIntro=4-5 HSRend=2 Relay=3-4');
    expect(e.message).toContain('It will not work as a relay on this network');
    // The refused consensus is not used.
    expect(d.current).toBeUndefined();
    expect(d.phase(now)).toBe('need-consensus');
  });

  it('by default the consensus is older than the lists and is not checked (it may be a stale or replayed one)', () => {
    expect(now.getTime()).toBeLessThan(PROTOCOL_LISTS_DATE.getTime());
    const d = directory({ role: 'relay', supported: TELESCOPE_RELAY_PROTOCOLS });
    expect(d.addConsensus(text, now)).toBe('accepted');
    expect(d.protocolWarning).toBeUndefined();
  });

  it('a cached consensus that requires what we lack stops the restore, not just that document', () => {
    const d = new DirectoryState(authorities, { protocols: { role: 'relay', supported: TELESCOPE_RELAY_PROTOCOLS, listsDate: before } });
    expect(() => d.restore({ certs: certsText, consensus: text }, now)).toThrow(MissingProtocolsError);
  });
});
