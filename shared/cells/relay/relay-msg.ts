import { RelayCmd } from './command.ts';
import { Begin, BeginDir, Connected, Data, Drop, End, Extend2, Extended2, Resolve, Resolved, Sendme, Truncate, Truncated } from './messages.ts';
import {
  EstablishIntro, EstablishRendezvous, IntroEstablished, Introduce1, Introduce2, IntroduceAck, Rendezvous1, Rendezvous2, RendezvousEstablished,
} from './onion-messages.ts';

/** A relay command this code does not interpret; kept whole so it can be logged or refused by number. */
export class UnrecognizedRelayMsg {
  constructor(readonly command: number, readonly data: Uint8Array) {}
  encode(): Uint8Array {
    return this.data;
  }
}

export type RelayMsg =
  | Begin | Data | End | Connected | Sendme | Extend2 | Extended2 | Truncate | Truncated | Drop | Resolve | Resolved | BeginDir
  | EstablishIntro | IntroEstablished | Introduce1 | Introduce2 | IntroduceAck | EstablishRendezvous | Rendezvous1 | Rendezvous2 | RendezvousEstablished
  | UnrecognizedRelayMsg;

/** Decode a relay message from its command and data; unknown commands stay representable. */
export function decodeRelayMsg(command: number, data: Uint8Array): RelayMsg {
  switch (command) {
    case RelayCmd.BEGIN: return Begin.decode(data);
    case RelayCmd.DATA: return Data.decode(data);
    case RelayCmd.END: return End.decode(data);
    case RelayCmd.CONNECTED: return Connected.decode(data);
    case RelayCmd.SENDME: return Sendme.decode(data);
    case RelayCmd.EXTEND2: return Extend2.decode(data);
    case RelayCmd.EXTENDED2: return Extended2.decode(data);
    case RelayCmd.TRUNCATE: return Truncate.decode(data);
    case RelayCmd.TRUNCATED: return Truncated.decode(data);
    case RelayCmd.DROP: return Drop.decode(data);
    case RelayCmd.RESOLVE: return Resolve.decode(data);
    case RelayCmd.RESOLVED: return Resolved.decode(data);
    case RelayCmd.BEGIN_DIR: return BeginDir.decode(data);
    case RelayCmd.ESTABLISH_INTRO: return EstablishIntro.decode(data);
    case RelayCmd.INTRO_ESTABLISHED: return IntroEstablished.decode(data);
    case RelayCmd.INTRODUCE1: return Introduce1.decode(data);
    case RelayCmd.INTRODUCE2: return Introduce2.decode(data);
    case RelayCmd.INTRODUCE_ACK: return IntroduceAck.decode(data);
    case RelayCmd.ESTABLISH_RENDEZVOUS: return EstablishRendezvous.decode(data);
    case RelayCmd.RENDEZVOUS1: return Rendezvous1.decode(data);
    case RelayCmd.RENDEZVOUS2: return Rendezvous2.decode(data);
    case RelayCmd.RENDEZVOUS_ESTABLISHED: return RendezvousEstablished.decode(data);
    default: return new UnrecognizedRelayMsg(command, data.slice());
  }
}
