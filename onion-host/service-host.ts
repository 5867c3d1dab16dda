import { connect as netConnect, type Socket } from 'node:net';
import { EndReason } from '../shared/cells/index.ts';
import type { TorClient } from '../shared/client/index.ts';
import type { HiddenServiceConfig } from '../shared/config/index.ts';
import type { Logger } from '../shared/util/index.ts';
import { OnionService, type OnionStreamHandler, type OnionStreamRequest, type PublishEvent } from '../shared/onion/index.ts';
import { pipeStream } from '../node-platform/pipe.ts';
import type { ServiceIdentity } from './service-dir.ts';

export interface HostedServiceOptions {
  /** The Node client whose circuits and network view the service uses (bootstrapped before start()). */
  readonly client: TorClient;
  /** One HiddenServiceDir block: its ports, introduction points and stream limits. */
  readonly config: HiddenServiceConfig;
  readonly identity: ServiceIdentity;
  /** Client authorization keys; empty means anyone with the address may connect. */
  readonly authorizedClients: readonly Uint8Array[];
  readonly testingNetwork: boolean;
  readonly log: Logger;
  readonly onPublish?: (event: PublishEvent) => void;
}

/**
 * An onion service hosted from Node: the shared OnionService on the client's circuits, with each
 * stream forwarded over TCP to the target of its HiddenServicePort. Not started: call start() once
 * the client has bootstrapped, stop() to take it down.
 */
export function hostOnionService(opts: HostedServiceOptions): OnionService {
  const { client, config, log } = opts;
  return new OnionService({
    circuits: client.circuits,
    netDir: () => client.requireNetDir(),
    identity: opts.identity,
    authorizedClients: opts.authorizedClients,
    numIntroductionPoints: config.numIntroductionPoints,
    maxStreams: config.maxStreams,
    maxStreamsCloseCircuit: config.maxStreamsCloseCircuit,
    testingNetwork: opts.testingNetwork,
    log,
    ...(opts.onPublish ? { onPublish: opts.onPublish } : {}),
    onStream: forwardToPorts(config.ports, log),
  });
}

/**
 * Streams to a HiddenServicePort go to its TCP target; a port the service does not list is
 * answered false, and the service ends the stream and closes the circuit (as tor does).
 */
export function forwardToPorts(ports: HiddenServiceConfig['ports'], log: Logger): OnionStreamHandler {
  return (request) => {
    const port = ports.find((p) => p.virtualPort === request.port);
    if (!port) return false;
    forwardToTarget(request, port.target, log);
    return true;
  };
}

/**
 * Forward an accepted onion stream to the service's TCP target. The stream is accepted only once
 * the target answers, so a client whose target is down gets END CONNECTREFUSED, not a stream that
 * opens and dies.
 */
function forwardToTarget(request: OnionStreamRequest, target: { host: string; port: number }, log: Logger): void {
  const { stream } = request;
  let connected = false;
  const socket: Socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  stream.onClose(() => { if (!connected) socket.destroy(); });
  socket.once('connect', () => {
    connected = true;
    if (!stream.isOpen) {
      socket.destroy();
      return;
    }
    request.accept();
    pipeStream(socket, stream, new Uint8Array(0), log);
  });
  socket.once('error', (e) => {
    if (connected) return; // pipeStream handles errors from here on
    log.info(`onion stream to port ${request.port}: ${target.host}:${target.port} unreachable (${e.message})`);
    request.refuse(EndReason.CONNECTREFUSED);
  });
}
