export {
  PRIVATE_NETWORKS,
  formatDescriptorRule,
  formatRule,
  type AddressFamily,
  type ExitPolicyRule,
  type PolicyAction,
} from './rule.ts';
export { ExitPolicy, type AddressInput, type PolicyVerdict } from './exit-policy.ts';
export { parseExitPolicy, type ParseExitPolicyOptions, type PolicySyntax } from './parse.ts';
export {
  DEFAULT_EXIT_POLICY,
  REDUCED_EXIT_POLICY,
  defaultExitPolicy,
  exitPolicyFromConfig,
  type ExitPolicyConfig,
} from './builder.ts';
export { PortPolicy, parsePortPolicy, type PortRange } from './port-policy.ts';
export { summarize } from './summary.ts';
