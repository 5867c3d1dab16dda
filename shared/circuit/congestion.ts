import type { NegotiatedParameters } from '../crypto/index.ts';
import { FixedCircuitWindows } from './fixed-windows.ts';

/**
 * Circuit-level congestion control for one end of one hop: what decides when a DATA cell may go
 * out and when the peer is owed a SENDME. Clients keep one per hop, relays one per circuit; the
 * circuit code asks these questions and never counts windows itself. Each is made for the hop by
 * `congestionControlFor`, from what the hop's handshake negotiated.
 */
export interface CircuitCongestionControl {
  /** Whether a DATA cell may be sent now. */
  readonly canSend: boolean;
  /** Resolves once a DATA cell may be sent (at once when it may now). */
  whenCanSend(): Promise<void>;
  /** A DATA cell was sent; `digest` is its full running digest after sealing (SENDME v1 echoes it). */
  dataSent(digest: Uint8Array): void;
  /**
   * A circuit-level SENDME arrived (its version and, from v1 on, the digest it echoes): check it
   * acknowledges data we sent and let more go. Throws ProtocolError when it does not.
   */
  sendmeReceived(version: number, digest: Uint8Array | undefined): void;
  /**
   * A DATA cell arrived with running digest `digest`. Returns the digest the SENDME to send now
   * must echo, or undefined when none is due. Throws ProtocolError when the peer sent beyond
   * what it may.
   */
  dataReceived(digest: Uint8Array): Uint8Array | undefined;
  /** The hop or circuit is gone: release whoever waits in whenCanSend (they find out why). */
  close(): void;
}

/** The congestion control of a hop whose handshake negotiated `negotiated`; `context` names it in errors. */
export function congestionControlFor(negotiated: NegotiatedParameters, context: string): CircuitCongestionControl {
  // Tor Vegas (proposal 324) plugs in here: chosen when `negotiated` carries ntor-v3's congestion-control parameters.
  return new FixedCircuitWindows(context);
}
