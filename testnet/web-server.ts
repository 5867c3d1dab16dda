/**
 * The test network's web server: plain HTTP/1.1 on 127.0.0.1 serving the fixed bodies from
 * web-content.ts. It is both a module (startWebServer, for tests that want it in-process) and a
 * script, because `testnet up` must leave it running after the command returns:
 *
 *   node --import tsx testnet/web-server.ts --port 0 --dns-port 0 --port-file DIR/web/ports.json
 *
 * The script also runs the exits' DNS responder (dns-server.ts) when given --dns-port, so one
 * detached process serves both. With port 0 the kernel picks free ports and the script writes
 * them to --port-file ({"http":N,"dns":M}) once it listens, so the parent never races another
 * process for a port it guessed. With --owner-pid PID it exits once that process is gone (the
 * network's owner may be SIGKILLed, which runs no handler that could stop us).
 */
import { createServer, type Server } from 'node:http';
import { writeFileSync, renameSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { bodyFor, WEB_PATHS, type WebPath } from './web-content.ts';
import { startDnsServer } from './dns-server.ts';
import { isProcessAlive, whenProcessGone } from '../node-platform/process-watch.ts';

export async function startWebServer(port: number, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  // Bodies are built once: the 5 MB stream costs ~160k SHA-256 blocks, too slow per request.
  const bodies = new Map<string, Uint8Array>(WEB_PATHS.map((p: WebPath) => [p, bodyFor(p)]));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const body = bodies.get(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': path === '/hello' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      'content-length': String(body.length),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<void> {
  const port = Number(argValue(args, '--port') ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`web-server: bad --port ${argValue(args, '--port')}`);
  const dnsArg = argValue(args, '--dns-port');
  const dnsPort = dnsArg === undefined ? undefined : Number(dnsArg);
  if (dnsPort !== undefined && (!Number.isInteger(dnsPort) || dnsPort < 0 || dnsPort > 65535)) throw new Error(`web-server: bad --dns-port ${dnsArg}`);
  const portFile = argValue(args, '--port-file');
  const ownerArg = argValue(args, '--owner-pid');
  const ownerPid = ownerArg === undefined ? undefined : Number(ownerArg);
  if (ownerPid !== undefined && (!Number.isInteger(ownerPid) || ownerPid <= 1)) throw new Error(`web-server: bad --owner-pid ${ownerArg}`);
  const { server, port: actual } = await startWebServer(port);
  const dns = dnsPort === undefined ? undefined : await startDnsServer(dnsPort);
  if (portFile) {
    // Write then rename, so a reader never sees a half-written file.
    writeFileSync(`${portFile}.tmp`, `${JSON.stringify({ http: actual, ...(dns ? { dns: dns.port } : {}) })}\n`);
    renameSync(`${portFile}.tmp`, portFile);
  }
  console.log(`web-server: HTTP on 127.0.0.1:${actual}${dns ? `, DNS on 127.0.0.1:${dns.port}` : ''} (pid ${process.pid})`);
  const stop = (): void => {
    dns?.socket.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (ownerPid !== undefined) {
    const gone = (): void => {
      console.log(`web-server: owner ${ownerPid} is gone; exiting`);
      stop();
    };
    // The owner may already have died while we were starting.
    if (isProcessAlive(ownerPid)) whenProcessGone(ownerPid, gone);
    else gone();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
