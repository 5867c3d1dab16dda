import { parseIp } from '../addr/index.ts';
import { ConfigError, parseBridgeLine, type BridgeLine } from './torrc.ts';

/**
 * A bridge as the client uses it: a first hop that is not (necessarily) in the consensus, known
 * from its bridge line. The circuit manager builds first hops to it and makes the bridges the only
 * guards; the parts are named as the relay descriptors name them.
 */
export interface BridgeInfo {
  /** IPv4 address of the ORPort, or 0.0.0.0 for a WebSocket bridge named by host name. */
  readonly address: string;
  readonly port: number;
  /** RSA identity fingerprint, 40 upper-case hex digits. */
  readonly fingerprint: string;
  /** Learnt from the bridge's own descriptor when the bridge line does not give it. */
  readonly ntorOnionKey?: Uint8Array;
  readonly ed25519Identity?: Uint8Array;
  /** How a person knows this bridge (a WebSocket bridge's URL), for error messages. */
  readonly url?: string;
}

/**
 * The bridge a Bridge line names. A plain tor bridge needs its fingerprint (the link handshake
 * proves it); pluggable transports are not supported. Which kinds a host can dial (TLS to an
 * ORPort, or WebSocket) is the host's to check.
 */
export function bridgeFrom(line: BridgeLine): BridgeInfo {
  if (line.kind === 'telescope') {
    return {
      url: line.url,
      // A WebSocket bridge may be named by host name: its transport dials the URL, and as a first
      // hop its address never goes into an EXTEND2.
      address: parseIp(line.host)?.family === 4 ? line.host : '0.0.0.0',
      port: line.port,
      fingerprint: line.fingerprint,
      ...(line.ntorOnionKey ? { ntorOnionKey: line.ntorOnionKey } : {}),
      ...(line.ed25519Identity ? { ed25519Identity: line.ed25519Identity } : {}),
    };
  }
  const where = `Bridge ${line.address}:${line.port}`;
  if (line.transport !== undefined) throw new ConfigError(`${where}: pluggable transport '${line.transport}' is not supported`);
  if (line.fingerprint === undefined) throw new ConfigError(`${where}: the fingerprint is required`);
  return { address: line.address, port: line.port, fingerprint: line.fingerprint, ...(line.ntorOnionKey ? { ntorOnionKey: line.ntorOnionKey } : {}) };
}

/** A whole `Bridge ...` torrc line (the keyword may be left out) as the client's BridgeInfo. */
export function parseBridge(text: string): BridgeInfo {
  return bridgeFrom(parseBridgeLine(text.replace(/^\s*Bridge(?=\s|$)/i, '')));
}
