import * as http from 'node:http';
import { DirectoryHttpError } from '../shared/circmgr/index.ts';
import { TelescopeError, TimeoutError } from '../shared/util/index.ts';

const MAX_BODY = 32 * 1024 * 1024;

/**
 * GET a document from a directory authority's DirPort (plain HTTP), the one place the client
 * talks to the network outside Tor: only at first bootstrap, before it knows any relay's keys.
 */
export function dirPortGet(address: string, port: number, path: string, timeoutMs = 30_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path, headers: { 'Accept-Encoding': 'identity' }, timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > MAX_BODY) {
          req.destroy(new TelescopeError(`${path} from ${address}:${port}: body over ${MAX_BODY} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (status !== 200) reject(new DirectoryHttpError(path, status, res.statusMessage ?? ''));
        else resolve(new Uint8Array(Buffer.concat(chunks)));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new TimeoutError(`${path} from ${address}:${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof TelescopeError ? e : new TelescopeError(`${path} from ${address}:${port}: ${e.message}`, { cause: e })));
  });
}
