import { ProtocolError, TelescopeError, type ErrorDetails, type ErrorKind } from '../util/index.ts';

/**
 * Why an onion-service descriptor was refused. The kinds are what a client needs to tell a person
 * something useful: "needs client auth" and "your key is not authorized" are things a person can
 * fix; the rest mean a bad or stale descriptor (try another HSDir, or later).
 */
export type DescriptorProblem =
  /** Not a well-formed descriptor (syntax, sizes, missing or repeated items, bad base64...). */
  | 'malformed'
  /** "hs-descriptor" names a version other than 3. */
  | 'unsupported-version'
  /** The signing-key certificate is not signed by the blinded key the client derived. */
  | 'wrong-blinded-key'
  /** A certificate (signing key, intro point auth-key / enc-key-cert) that does not check out. */
  | 'bad-cert'
  /** A certificate that was valid once but has expired (the descriptor is stale). */
  | 'expired-cert'
  /** The outer signature by the descriptor signing key does not verify. */
  | 'bad-signature'
  /** A layer's MAC does not match: wrong subcredential, or the ciphertext was altered. */
  | 'decrypt-failed'
  /** The service requires client authorization and no client key was given. */
  | 'needs-client-auth'
  /** A client key was given but the service does not list it (or it does not open the layer). */
  | 'bad-client-auth';

export class DescriptorError extends ProtocolError {
  constructor(readonly problem: DescriptorProblem, detail: string, offset?: number, details?: ErrorDetails) {
    super('onion-service descriptor', `${problem}: ${detail}`, offset, { kind: errorKindOf(problem), ...details });
  }
}

/** The two authorization problems are the person's to fix; every other one is a descriptor we cannot use. */
function errorKindOf(problem: DescriptorProblem): ErrorKind {
  if (problem === 'needs-client-auth') return 'onion-service-missing-client-auth';
  if (problem === 'bad-client-auth') return 'onion-service-wrong-client-auth';
  return 'onion-service-descriptor-invalid';
}

/**
 * Runs a parsing step, turning any ProtocolError it raises (from the netdoc tokenizer, Reader,
 * base64...) into a DescriptorError of kind 'malformed' that keeps the original as its cause.
 * Other typed errors (e.g. a DescriptorError that already names its problem) pass through unchanged.
 */
export function malformedOnError<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof DescriptorError) throw e;
    if (e instanceof ProtocolError) {
      // The offset moves to this error's own field; keep it out of the message so it shows once.
      const message = `${e.context}: ${e.detail}`;
      throw new DescriptorError('malformed', `${what}: ${message}`, e.offset, { cause: e });
    }
    if (e instanceof TelescopeError) throw new DescriptorError('malformed', `${what}: ${e.message}`, undefined, { cause: e });
    throw e;
  }
}
