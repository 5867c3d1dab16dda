import { describe, expect, it } from 'vitest';
import { toBase64 } from '../bytes/index.ts';
import { ConfigError } from './torrc.ts';
import { bridgeFrom, parseBridge } from './bridge.ts';
import { parseBridgeLine } from './torrc.ts';

const FP = '4C17FB532E20B2A8AC199441ECD2B0177B39E4B1';
const ntor = Uint8Array.from({ length: 32 }, (_, i) => i);
const ed = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);

describe('bridgeFrom / parseBridge', () => {
  it('a plain bridge: its ORPort, fingerprint and, when the line gives it, the ntor key', () => {
    expect(parseBridge(`Bridge 192.0.2.1:9001 ${FP} ntor=${toBase64(ntor)}`)).toEqual({ address: '192.0.2.1', port: 9001, fingerprint: FP, ntorOnionKey: ntor });
    // Without ntor= the client learns the key from the bridge's descriptor later.
    expect(parseBridge(`192.0.2.1:9001 ${FP}`)).toEqual({ address: '192.0.2.1', port: 9001, fingerprint: FP });
  });

  it('a WebSocket bridge: its URL, and 0.0.0.0 for an address when the URL names a host', () => {
    expect(parseBridge(`telescope ws://127.0.0.1:9101/ ${FP} ed25519=${toBase64(ed)} ntor=${toBase64(ntor)}`)).toEqual({
      url: 'ws://127.0.0.1:9101/', address: '127.0.0.1', port: 9101, fingerprint: FP, ntorOnionKey: ntor, ed25519Identity: ed,
    });
    expect(bridgeFrom(parseBridgeLine(`telescope wss://bridge.example.net/tor ${FP}`))).toEqual({ url: 'wss://bridge.example.net/tor', address: '0.0.0.0', port: 443, fingerprint: FP });
  });

  it('refuses what no host can use, naming the bridge', () => {
    const why = (line: string) => {
      try {
        parseBridge(line);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).reason;
      }
      throw new Error(`${line} was accepted`);
    };
    expect(why('192.0.2.1:9001')).toBe('Bridge 192.0.2.1:9001: the fingerprint is required');
    expect(why(`obfs4 192.0.2.1:9001 ${FP} cert=x`)).toBe("Bridge 192.0.2.1:9001: pluggable transport 'obfs4' is not supported");
  });
});
