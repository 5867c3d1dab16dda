import { openEnum } from '../../bytes/index.ts';

/** Channel cell commands (tor-spec "Cell packet format"). */
export const ChanCmd = openEnum({
  PADDING: 0,
  CREATE: 1,
  CREATED: 2,
  RELAY: 3,
  DESTROY: 4,
  CREATE_FAST: 5,
  CREATED_FAST: 6,
  VERSIONS: 7,
  NETINFO: 8,
  RELAY_EARLY: 9,
  CREATE2: 10,
  CREATED2: 11,
  PADDING_NEGOTIATE: 12,
  VPADDING: 128,
  CERTS: 129,
  AUTH_CHALLENGE: 130,
  AUTHENTICATE: 131,
  AUTHORIZE: 132,
});

/**
 * Whether a command uses the variable-length cell format. VERSIONS is always variable-length (it
 * is sent before a link version is agreed); otherwise commands 128 and up are.
 */
export function isVariableLength(command: number): boolean {
  return command === ChanCmd.VERSIONS || command >= 128;
}

/** Body length of a fixed-length cell (the payload after circuit id and command). */
export const CELL_BODY_LEN = 509;
