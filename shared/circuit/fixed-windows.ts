import { equalBytes } from '../bytes/index.ts';
import { ProtocolError } from '../util/index.ts';
import type { CircuitCongestionControl } from './congestion.ts';

/**
 * Circuit-level flow control for one end of one hop (tor-spec "Flow control", prop 289): the
 * package window (DATA cells we may still send: 1000, +100 per SENDME) and the deliver window
 * (DATA cells the peer may still send us). SENDMEs are authenticated (v1): each one echoes the
 * running digest of the DATA cell that took the sender's window to a multiple of 100, so a peer
 * cannot acknowledge data it never received. Clients keep one of these per hop, relays one per
 * circuit; both ends use the same rules. This is the congestion control of every hop whose
 * handshake negotiated none (all of them, until ntor-v3).
 */

export const CIRCUIT_WINDOW_START = 1000;
export const CIRCUIT_WINDOW_INCREMENT = 100;

export class FixedCircuitWindows implements CircuitCongestionControl {
  private packageWindow = CIRCUIT_WINDOW_START;
  private deliverWindow = CIRCUIT_WINDOW_START;
  /** Digests the peer's next SENDMEs must echo, oldest first. */
  private readonly expectedDigests: Uint8Array[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly context: string) {}

  get canSend(): boolean {
    return this.packageWindow > 0;
  }

  whenCanSend(): Promise<void> {
    if (this.packageWindow > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  dataSent(digest: Uint8Array): void {
    // The cell that takes the window to a multiple of 100 is the one the next SENDME acknowledges.
    if ((this.packageWindow - 1) % CIRCUIT_WINDOW_INCREMENT === 0) this.expectedDigests.push(digest.slice());
    this.packageWindow--;
  }

  /** Throws ProtocolError when the SENDME is not the one we expect (unauthenticated, wrong digest, too many). */
  sendmeReceived(version: number, digest: Uint8Array | undefined): void {
    const expected = this.expectedDigests.shift();
    if (!expected) throw new ProtocolError(this.context, 'SENDME for data that was never sent');
    if (!digest) throw new ProtocolError(this.context, `unauthenticated (v${version}) circuit SENDME`);
    if (!equalBytes(digest, expected)) throw new ProtocolError(this.context, 'SENDME with the wrong digest');
    this.packageWindow += CIRCUIT_WINDOW_INCREMENT;
    if (this.packageWindow > CIRCUIT_WINDOW_START) throw new ProtocolError(this.context, 'SENDME beyond the circuit window');
    this.releaseWaiters();
  }

  /** Every 100th DATA cell is acknowledged at once, echoing its own digest. */
  dataReceived(digest: Uint8Array): Uint8Array | undefined {
    this.deliverWindow--;
    if (this.deliverWindow < 0) throw new ProtocolError(this.context, 'DATA beyond the circuit window');
    if (this.deliverWindow <= CIRCUIT_WINDOW_START - CIRCUIT_WINDOW_INCREMENT) {
      this.deliverWindow += CIRCUIT_WINDOW_INCREMENT;
      return digest;
    }
    return undefined;
  }

  close(): void {
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
