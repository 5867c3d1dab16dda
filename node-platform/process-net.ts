import type { UnexpectedErrors } from '../shared/util/index.ts';

/**
 * The process-level net of a long-running command (the relay, the client, the onion service). An
 * exception nothing caught, or a rejection nobody handled, would end the process: for a relay
 * exposed to anyone, one bad peer would take every circuit down with it. Such an error is logged
 * at warn with the UNEXPECTED ERROR marker, counted in the same counter as the errors the
 * circuits and channels catch, and the process carries on.
 *
 * This hides nothing: the count is in the relay's heartbeat and shutdown lines, and the e2e tests
 * fail a run in which it is not 0. Returns a function that takes the net down again.
 */
export function installProcessNet(unexpected: UnexpectedErrors): () => void {
  const onException = (error: unknown): void => unexpected.record('the process (uncaughtException), carrying on', error);
  const onRejection = (reason: unknown): void => unexpected.record('the process (unhandledRejection), carrying on', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
