import { TorClient, type TorClientOptions } from '../shared/client/tor-client.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { dirPortGet } from '../node-platform/dirport.ts';
import { FileStore } from '../node-platform/file-store.ts';

/**
 * The Tor client as Node hosts it: TLS to relays, OpenSSL's AES-CTR, the DataDirectory on disk and
 * the authorities' DirPorts for a first bootstrap. Everything else is the caller's (authorities,
 * bridges, path rules, onion client keys, logging).
 */
export function createNodeTorClient(opts: Omit<TorClientOptions, 'transports' | 'store' | 'dirPortGet'> & { readonly dataDirectory: string }): TorClient {
  const { dataDirectory, ...rest } = opts;
  return new TorClient({
    transports: tlsTransportFactory,
    store: new FileStore(dataDirectory),
    dirPortGet,
    ...rest,
    circuitOptions: { aes: nodeAesCtr, ...(opts.log ? { log: opts.log } : {}), ...opts.circuitOptions },
  });
}

/** The value after `name` in a command line (`-f FILE`). */
export function optionValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
