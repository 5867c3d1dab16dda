import { createServer, type Server } from 'node:http';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryHttpError } from '../shared/circmgr/index.ts';
import { ProtocolError } from '../shared/util/index.ts';
import { dirPortGet } from './dirport.ts';

/** A DirPort on loopback that answers per path, and records the Accept-Encoding it was sent. */
const body = Buffer.from('r relay '.repeat(5000));
const accepted: (string | undefined)[] = [];
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    accepted.push(req.headers['accept-encoding']);
    switch (req.url) {
      case '/deflate': res.writeHead(200, { 'Content-Encoding': 'deflate' }).end(deflateSync(body)); break;
      case '/gzip': res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(body)); break;
      case '/identity': res.writeHead(200).end(body); break;
      case '/zstd': res.writeHead(200, { 'Content-Encoding': 'x-zstd' }).end(body); break;
      case '/broken': res.writeHead(200, { 'Content-Encoding': 'deflate' }).end(Buffer.from('not deflate at all')); break;
      default: res.writeHead(404, 'Not found').end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** The error `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('dirPortGet', () => {
  it('asks for deflate and returns the document decompressed, whichever encoding came', async () => {
    for (const path of ['/deflate', '/gzip', '/identity']) expect(Buffer.from(await dirPortGet('127.0.0.1', port, path))).toEqual(body);
    expect(accepted.every((a) => a === 'deflate, gzip, identity')).toBe(true);
  });

  it('refuses an encoding it did not ask for, and a body that does not inflate, as ProtocolErrors', async () => {
    expect(await rejection(dirPortGet('127.0.0.1', port, '/zstd'))).toBeInstanceOf(ProtocolError);
    const e = await rejection(dirPortGet('127.0.0.1', port, '/broken'));
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/bad deflate body/);
  });

  it('an HTTP error is a DirectoryHttpError naming the path', async () => {
    const e = await rejection(dirPortGet('127.0.0.1', port, '/missing'));
    expect(e).toBeInstanceOf(DirectoryHttpError);
    expect((e as DirectoryHttpError).status).toBe(404);
  });
});
