/**
 * The private-network harness: what `npm start`, `npm run testnet`, bench/ and e2e/ use to bring a
 * network of tor 0.4.9 processes up on 127.0.0.1, reach it through its description, and stop it.
 *
 * plan.ts (which tors, roles, nicknames, files and ports) → keys.ts (authority certificates, relay
 * identities) → torrc.ts (every tor's configuration) → processes.ts (starting and stopping tors
 * and the web server, owner lifelines) → readiness.ts (waiting for consensus, descriptors, the
 * onion service) → description.ts (DIR/network.json); network.ts puts them together.
 */
export { startTestnet, reuseOrStart, restartRelay, type StartOptions, type Testnet } from './network.ts';
export { isProcessAlive, isRunning, stopTestnet } from './processes.ts';
export {
  DESCRIPTION_FILE,
  readDescription,
  type AuthorityDescription,
  type RelayDescription,
  type TestnetDescription,
  type TorProcessDescription,
} from './description.ts';
export { TestnetError } from './errors.ts';
