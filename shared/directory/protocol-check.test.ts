import { describe, expect, it } from 'vitest';
import { ProtocolList } from '../netdoc/index.ts';
import { checkConsensusProtocols, MissingProtocolsError, PROTOCOL_LISTS_DATE, type SoftwareProtocols } from './protocol-check.ts';

const after = new Date(PROTOCOL_LISTS_DATE.getTime() + 3600_000);
const consensus = (lists: { reqC?: string; recC?: string; reqR?: string; recR?: string }, validAfter = after) => ({
  validAfter,
  requiredClientProtocols: ProtocolList.parse(lists.reqC ?? ''),
  recommendedClientProtocols: ProtocolList.parse(lists.recC ?? ''),
  requiredRelayProtocols: ProtocolList.parse(lists.reqR ?? ''),
  recommendedRelayProtocols: ProtocolList.parse(lists.recR ?? ''),
});
const client: SoftwareProtocols = { role: 'client', supported: ProtocolList.parse('Cons=1-2 FlowCtrl=1 Link=4-5 Relay=2') };
const relay: SoftwareProtocols = { role: 'relay', supported: ProtocolList.parse('Link=4-5 Relay=2') };

describe('checkConsensusProtocols', () => {
  it('passes silently when everything required and recommended is implemented', () => {
    expect(checkConsensusProtocols(consensus({ reqC: 'Link=4 Relay=2', recC: 'Link=4-5' }), client)).toEqual({ checked: true, missingRecommended: undefined, warning: undefined });
  });

  it('refuses a consensus requiring what we lack, naming exactly the missing versions', () => {
    const e = (() => {
      try {
        checkConsensusProtocols(consensus({ reqC: 'FlowCtrl=1-2 Link=4 Relay=2-4 Datagram=1' }), client);
      } catch (err) {
        return err;
      }
    })() as MissingProtocolsError;
    expect(e).toBeInstanceOf(MissingProtocolsError);
    expect(e.kind).toBe('protocols-missing');
    expect(e.role).toBe('client');
    expect(e.missing.toString()).toBe('Datagram=1 FlowCtrl=2 Relay=3-4');
    expect(e.consensusValidAfter).toEqual(after);
    expect(e.message).toContain('requires protocols this version of Telescope does not implement: Datagram=1 FlowCtrl=2 Relay=3-4');
    expect(e.message).toContain('as a client');
  });

  it('warns, naming them, when recommended protocols are missing', () => {
    const r = checkConsensusProtocols(consensus({ reqC: 'Link=4', recC: 'FlowCtrl=1-2 Link=4-5 Relay=2-4' }), client);
    expect(r.checked).toBe(true);
    expect(r.missingRecommended?.toString()).toBe('FlowCtrl=2 Relay=3-4');
    expect(r.warning).toContain('recommends protocols this version of Telescope does not implement: FlowCtrl=2 Relay=3-4');
  });

  it('reads the lists of its own role only', () => {
    const c = consensus({ reqC: 'Link=4', reqR: 'HSDir=2', recR: 'Padding=2' });
    expect(checkConsensusProtocols(c, client).checked).toBe(true);
    expect(() => checkConsensusProtocols(c, relay)).toThrow(/HSDir=2.*as a relay/);
    expect(checkConsensusProtocols(consensus({ reqC: 'HSDir=2', recR: 'Padding=2' }), relay).warning).toContain('Padding=2');
  });

  it('ignores a consensus older than its protocol lists (it may be replayed or stale), as tor and Arti do', () => {
    const old = consensus({ reqC: 'Relay=9', recC: 'Relay=10' }, new Date(PROTOCOL_LISTS_DATE.getTime() - 1));
    expect(checkConsensusProtocols(old, client)).toEqual({ checked: false, missingRecommended: undefined, warning: undefined });
    // The same lists from the lists' own date on are enforced.
    expect(() => checkConsensusProtocols({ ...old, validAfter: PROTOCOL_LISTS_DATE }, client)).toThrow(MissingProtocolsError);
    expect(() => checkConsensusProtocols(old, { ...client, listsDate: new Date(0) })).toThrow(MissingProtocolsError);
  });

  it('an empty or absent list asks for nothing', () => {
    expect(checkConsensusProtocols(consensus({}), { role: 'relay', supported: ProtocolList.EMPTY }).checked).toBe(true);
  });
});

describe('IgnoreMissingRequiredProtocols (Arti\'s ignore_missing_required_protocols)', () => {
  const c = consensus({ reqR: 'HSDir=2 Relay=2-4', recR: 'Padding=2' });
  it('turns the refusal into a warning only when it names everything missing', () => {
    const r = checkConsensusProtocols(c, { ...relay, ignoreMissingRequired: ProtocolList.parse('HSDir=2 Relay=3-4') });
    expect(r.checked).toBe(true);
    expect(r.warning).toContain('requires protocols this version of Telescope does not implement: HSDir=2 Relay=3-4; running anyway');
    expect(r.warning).toContain('recommends protocols this version of Telescope does not implement: Padding=2');
    expect(() => checkConsensusProtocols(c, { ...relay, ignoreMissingRequired: ProtocolList.parse('HSDir=2 Relay=3') })).toThrow(/HSDir=2 Relay=3-4/);
    expect(() => checkConsensusProtocols(c, relay)).toThrow(MissingProtocolsError);
  });
});
