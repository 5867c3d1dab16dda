import { TorClient, type TorClientOptions } from '../shared/client/index.ts';
import type { Logger } from '../shared/util/index.ts';
import { FileStore } from '../node-platform/file-store.ts';
import { nodeAesCtr } from '../node-platform/node-aes-ctr.ts';
import { tlsTransportFactory } from '../node-platform/tls-transport.ts';
import { SocksServer } from './socks.ts';

/**
 * The Tor client as Node hosts it: TLS to relays, OpenSSL's AES-CTR, the DataDirectory on disk.
 * Everything else is the caller's (authorities and fallbacks, bridges, path rules, onion client
 * keys, logging).
 */
export function createNodeTorClient(opts: Omit<TorClientOptions, 'transports' | 'store'> & { readonly dataDirectory: string }): TorClient {
  const { dataDirectory, ...rest } = opts;
  return new TorClient({
    transports: tlsTransportFactory,
    store: new FileStore(dataDirectory),
    ...rest,
    circuitOptions: { aes: nodeAesCtr, ...(opts.log ? { log: opts.log } : {}), ...opts.circuitOptions },
  });
}

/** A listening SOCKS port and where it listens. */
export interface SocksPort {
  readonly server: SocksServer;
  readonly address: string;
  readonly port: number;
}

/**
 * A SOCKS5 port whose streams and lookups go through `client`. Streams with different SOCKS
 * username/password pairs never share a circuit (tor's IsolateSOCKSAuth). `port` 0 takes any free
 * port; the one taken is logged as tor logs it and returned.
 */
export async function openSocksPort(client: TorClient, address: string, port: number, log: Logger): Promise<SocksPort> {
  const server = new SocksServer({
    connect: async (host, p, key) => (await client.connect(host, p, { isolationKey: key })).stream,
    resolve: (host, key) => client.resolve(host, { isolationKey: key }),
  }, log);
  const bound = await server.listen(port, address);
  log.notice(`Opened Socks listener on ${address}:${bound}`);
  return { server, address, port: bound };
}
