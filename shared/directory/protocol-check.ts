import { ProtocolList, type Consensus } from '../netdoc/index.ts';
import { TelescopeError, type ErrorKind } from '../util/index.ts';

/**
 * The consensus' protocol requirements (tor-spec "Subprotocol versioning", proposals 264 and 297),
 * checked as tor's networkstatus_check_required_protocols and Arti's protocol-status watcher do:
 *
 *   - a required protocol this build lacks: the consensus is refused and the software must not use
 *     the network (tor logs at err and exits; Arti shuts down). Telescope throws
 *     MissingProtocolsError naming the protocols; the client stops bootstrapping with it (and the
 *     popup says it), the relay stops.
 *   - a recommended protocol it lacks: a warning naming them, once per consensus accepted.
 *   - neither applies to a consensus older than this build's protocol lists (PROTOCOL_LISTS_DATE):
 *     such a consensus may be an old one replayed or cached, and what it required then says nothing
 *     about software written later (tor compares with its release date, Arti with its publication
 *     date).
 *
 * An operator may name required protocols to run without (ignoreMissingRequired, as Arti's
 * ignore_missing_required_protocols): only when everything missing is named does the refusal become
 * a warning.
 *
 * A client checks the client lists; a relay the relay lists (tor checks both only for a relay that
 * also has client ports; Telescope's relay has none).
 */

/** When the supported lists (TELESCOPE_CLIENT_PROTOCOLS, TELESCOPE_RELAY_PROTOCOLS) were last checked against the code. */
export const PROTOCOL_LISTS_DATE = new Date('2026-12-03T00:00:00Z');

export type ProtocolRole = 'client' | 'relay';

/** What this software implements in one role, and from when its lists hold. */
export interface SoftwareProtocols {
  readonly role: ProtocolRole;
  readonly supported: ProtocolList;
  /** Consensuses older than this are not checked (default PROTOCOL_LISTS_DATE). */
  readonly listsDate?: Date;
  /**
   * Required protocols an operator chose to run without (Arti's ignore_missing_required_protocols):
   * when everything missing is in here, a warning instead of a refusal. Empty by default.
   */
  readonly ignoreMissingRequired?: ProtocolList;
}

/** A consensus requires protocols this build lacks: it must not be used, and the network neither. */
export class MissingProtocolsError extends TelescopeError {
  static override readonly defaultKind: ErrorKind = 'protocols-missing';
  constructor(
    readonly role: ProtocolRole,
    /** The required protocols (and versions) missing, as the consensus names them. */
    readonly missing: ProtocolList,
    /** valid-after of the consensus that requires them. */
    readonly consensusValidAfter: Date,
  ) {
    super(
      `the consensus of ${consensusValidAfter.toISOString()} requires protocols this version of Telescope does not implement: ` +
        `${missing.toString()}. It will not work as a ${role} on this network; update Telescope.`,
      { validAfter: consensusValidAfter },
    );
  }
}

export interface ProtocolCheckResult {
  /** Whether the consensus was checked at all (false: older than the lists, see above). */
  readonly checked: boolean;
  /** Recommended protocols missing (empty when none), for the warning. */
  readonly missingRecommended: ProtocolList | undefined;
  /** The warning to log, when recommended protocols are missing. */
  readonly warning: string | undefined;
}

/** Check a verified consensus against what this software implements. Throws MissingProtocolsError. */
export function checkConsensusProtocols(consensus: Pick<Consensus, 'validAfter' | 'requiredClientProtocols' | 'recommendedClientProtocols' | 'requiredRelayProtocols' | 'recommendedRelayProtocols'>, software: SoftwareProtocols): ProtocolCheckResult {
  if (consensus.validAfter.getTime() < (software.listsDate ?? PROTOCOL_LISTS_DATE).getTime()) {
    return { checked: false, missingRecommended: undefined, warning: undefined };
  }
  const required = software.role === 'client' ? consensus.requiredClientProtocols : consensus.requiredRelayProtocols;
  const recommended = software.role === 'client' ? consensus.recommendedClientProtocols : consensus.recommendedRelayProtocols;
  const missingRequired = required.missingFrom(software.supported);
  const ignored = software.ignoreMissingRequired ?? ProtocolList.EMPTY;
  if (!missingRequired.isEmpty && !ignored.supportsAll(missingRequired)) throw new MissingProtocolsError(software.role, missingRequired, consensus.validAfter);
  const missingRecommended = recommended.missingFrom(software.supported);
  const warnings: string[] = [];
  if (!missingRequired.isEmpty) {
    warnings.push(
      `the consensus of ${consensus.validAfter.toISOString()} requires protocols this version of Telescope does not implement: ` +
        `${missingRequired.toString()}; running anyway because IgnoreMissingRequiredProtocols names them all. ` +
        `It should not run as a ${software.role} on this network.`,
    );
  }
  if (!missingRecommended.isEmpty) {
    warnings.push(
      `the consensus of ${consensus.validAfter.toISOString()} recommends protocols this version of Telescope does not implement: ` +
        `${missingRecommended.toString()}. It will eventually stop working as a ${software.role} on the Tor network.`,
    );
  }
  return {
    checked: true,
    missingRecommended: missingRecommended.isEmpty ? undefined : missingRecommended,
    warning: warnings.length > 0 ? warnings.join(' ') : undefined,
  };
}
