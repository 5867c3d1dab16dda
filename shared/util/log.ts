/**
 * Logging is injected by the host (console in Node with tor-like severities, the extension's own
 * log view). The core never prints by itself. Messages never carry a client's IP address.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  notice(message: string): void;
  warn(message: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, notice() {}, warn() {} };
