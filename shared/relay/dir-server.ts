import { ProtocolError, TelescopeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DirectoryState } from '../directory/bootstrap.ts';
import type { TorStream } from '../stream/stream.ts';

/**
 * A directory cache on BEGIN_DIR streams (dir-spec "Directory cache operation"): one HTTP/1.0 GET
 * per stream for the documents a client bootstraps from — the microdesc consensus, authority
 * certificates, microdescriptors — and the relay's own server descriptor, so that a browser can
 * bootstrap entirely through its bridge and tor clients can use the relay as a bridge. Bodies are
 * deflate-compressed when the client asks (Accept-Encoding or a ".z" path).
 */

export interface DirectoryCacheSource {
  readonly directory: () => DirectoryState;
  /** The relay's signed server descriptor, if it has one. */
  readonly ownDescriptor: () => string | undefined;
  /** Upper-case hex fingerprint of the relay. */
  readonly fingerprint: string;
}

const MAX_REQUEST = 8192;

export interface DirRequestLine {
  readonly path: string;
  readonly compress: boolean;
}

/** Read and parse the GET request at the start of a directory stream. */
export function parseDirRequest(raw: string): DirRequestLine {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new ProtocolError('directory request', 'no end of headers');
  const [line, ...headers] = raw.slice(0, end).split('\r\n');
  const m = /^GET (\/[!-~]*) HTTP\/1\.[01]$/.exec(line ?? '');
  if (!m) throw new ProtocolError('directory request', `not a GET request: "${(line ?? '').slice(0, 60)}"`);
  let path = m[1]!;
  let compress = false;
  if (path.endsWith('.z')) {
    path = path.slice(0, -2);
    compress = true;
  }
  for (const h of headers) {
    const [name, value] = [h.slice(0, h.indexOf(':')).trim().toLowerCase(), h.slice(h.indexOf(':') + 1)];
    if (name === 'accept-encoding' && /(^|[\s,])deflate([\s,;]|$)/i.test(value)) compress = true;
  }
  return { path, compress };
}

/** The document for `path`, or undefined for 404. */
export function lookupDocument(source: DirectoryCacheSource, path: string): string | undefined {
  const dir = source.directory();
  if (path === '/tor/status-vote/current/consensus-microdesc' || path.startsWith('/tor/status-vote/current/consensus-microdesc/')) {
    return dir.consensusText();
  }
  if (path === '/tor/keys/all') return dir.certificateTexts().map((c) => c.text).join('') || undefined;
  if (path.startsWith('/tor/keys/fp/')) {
    const wanted = new Set(path.slice('/tor/keys/fp/'.length).toUpperCase().split('+'));
    return dir.certificateTexts().filter((c) => wanted.has(c.fingerprint)).map((c) => c.text).join('') || undefined;
  }
  if (path.startsWith('/tor/keys/fp-sk/')) {
    const wanted = new Set(path.slice('/tor/keys/fp-sk/'.length).toUpperCase().split('+'));
    return dir.certificateTexts().filter((c) => wanted.has(`${c.fingerprint}-${c.signingKeyDigest}`)).map((c) => c.text).join('') || undefined;
  }
  if (path.startsWith('/tor/micro/d/')) {
    const texts = dir.microdescTexts(path.slice('/tor/micro/d/'.length).split('-'));
    return texts.length > 0 ? texts.join('') : undefined;
  }
  if (path === '/tor/server/authority' || path === `/tor/server/fp/${source.fingerprint}`) return source.ownDescriptor();
  return undefined;
}

async function deflate(text: string): Promise<Uint8Array> {
  const stream = new Blob([new TextEncoder().encode(text)]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Serve one request on a BEGIN_DIR stream, then close it. */
export async function serveDirectoryStream(stream: TorStream, source: DirectoryCacheSource, log: Logger): Promise<void> {
  try {
    let raw = '';
    while (!raw.includes('\r\n\r\n')) {
      const chunk = await stream.read();
      if (!chunk) return;
      raw += new TextDecoder('latin1').decode(chunk);
      if (raw.length > MAX_REQUEST) throw new ProtocolError('directory request', `request over ${MAX_REQUEST} bytes`);
    }
    const req = parseDirRequest(raw);
    const doc = lookupDocument(source, req.path);
    const date = new Date().toUTCString();
    if (doc === undefined) {
      await stream.write(new TextEncoder().encode(`HTTP/1.0 404 Not found\r\nDate: ${date}\r\n\r\n`));
    } else {
      const body = req.compress ? await deflate(doc) : new TextEncoder().encode(doc);
      const head = `HTTP/1.0 200 OK\r\nDate: ${date}\r\nContent-Type: text/plain\r\nContent-Encoding: ${req.compress ? 'deflate' : 'identity'}\r\n\r\n`;
      await stream.write(new TextEncoder().encode(head));
      await stream.write(body);
    }
    stream.close();
  } catch (e) {
    if (!(e instanceof TelescopeError)) throw e;
    log.info(`directory request refused: ${e.message}`);
    if (e instanceof ProtocolError && stream.isOpen) {
      try {
        await stream.write(new TextEncoder().encode('HTTP/1.0 400 Bad request\r\n\r\n'));
      } catch (writeError) {
        log.debug(`could not answer 400: ${writeError instanceof Error ? writeError.message : String(writeError)}`);
      }
    }
    stream.close();
  }
}
