import * as http from 'node:http';
import { inflateSync, gunzipSync } from 'node:zlib';
import { DirectoryHttpError } from '../shared/circmgr/index.ts';
import { ProtocolError, TelescopeError, TimeoutError } from '../shared/util/index.ts';

const MAX_BODY = 32 * 1024 * 1024;

/**
 * GET a document from a directory authority's DirPort (plain HTTP), the one place the client
 * talks to the network outside Tor: only at first bootstrap, before it knows any relay's keys.
 * Asks for deflate (a full consensus is ≈3.5 MB as text, ≈0.85 MB deflated) and inflates with
 * Node's zlib, bounded like the identity body.
 */
export function dirPortGet(address: string, port: number, path: string, timeoutMs = 30_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path, headers: { 'Accept-Encoding': 'deflate, gzip, identity' }, timeout: timeoutMs }, (res) => {
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
        else {
          try {
            resolve(decode(Buffer.concat(chunks), res.headers['content-encoding'], `${path} from ${address}:${port}`));
          } catch (e) {
            reject(e);
          }
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new TimeoutError(`${path} from ${address}:${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof TelescopeError ? e : new TelescopeError(`${path} from ${address}:${port}: ${e.message}`, { cause: e })));
  });
}

/** The body as sent under `encoding` (deflate, gzip or identity), decompressed within MAX_BODY. */
function decode(body: Buffer, encoding: string | undefined, context: string): Uint8Array {
  const method = (encoding ?? 'identity').trim().toLowerCase();
  if (method === 'identity') return new Uint8Array(body);
  if (method !== 'deflate' && method !== 'gzip' && method !== 'x-gzip') throw new ProtocolError(context, `unsupported Content-Encoding ${method}`);
  try {
    return new Uint8Array(method === 'deflate' ? inflateSync(body, { maxOutputLength: MAX_BODY }) : gunzipSync(body, { maxOutputLength: MAX_BODY }));
  } catch (e) {
    throw new ProtocolError(context, `bad ${method} body: ${e instanceof Error ? e.message : String(e)}`);
  }
}
