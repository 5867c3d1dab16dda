import * as http from 'node:http';
import { TelescopeError, TimeoutError } from '../../shared/util/index.ts';

/**
 * Upload a server descriptor to a directory authority (dir-spec "Publishing server descriptors":
 * an HTTP POST of the descriptor to /tor/ on the authority's DirPort). Resolves with the
 * authority's status line; rejects when it refuses the descriptor, with the reason it gave.
 */
export function postDescriptor(address: string, dirPort: number, descriptor: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(descriptor, 'latin1');
    const req = http.request({ host: address, port: dirPort, method: 'POST', path: '/tor/', timeout: timeoutMs, headers: { 'Content-Length': body.length, 'Content-Type': 'text/plain' } }, (res) => {
      const status = `${res.statusCode ?? 0} ${res.statusMessage ?? ''}`.trim();
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(status) : reject(new TelescopeError(`authority ${address}:${dirPort} refused our descriptor: ${status}`))));
    });
    req.on('timeout', () => req.destroy(new TimeoutError(`authority ${address}:${dirPort} did not answer our upload in ${timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof TelescopeError ? e : new TelescopeError(`uploading to ${address}:${dirPort}: ${e.message}`, { cause: e })));
    req.end(body);
  });
}
