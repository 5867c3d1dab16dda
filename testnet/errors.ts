import { TelescopeError } from '../shared/util/index.ts';

/** The harness could not bring the network up; the message names the tor and quotes its log. */
export class TestnetError extends TelescopeError {}
