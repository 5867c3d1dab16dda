import { fromBase64, toBase64 } from '../../../shared/bytes/index.ts';
import { CertificateError, TelescopeError } from '../../../shared/util/index.ts';

/**
 * Extra trusted CAs for curl (private test networks): libcurl.js keeps its roots in WebAssembly
 * memory, so a bundle of the roots plus the extra certificates is written there and pointed at for
 * the one request that asked for it.
 */

export interface WasmExports {
  readonly memory: WebAssembly.Memory;
  malloc(size: number): number;
  get_cacert(): number;
}

/** Where curl takes its CA bundle from, and the extra-CA bundles made so far. */
export interface CaStore {
  readonly exports: WasmExports;
  /** Address of libcurl.js's global `struct curl_blob cacert_blob` { data, len, flags }. */
  readonly blobAddress: number;
  readonly rootsPtr: number;
  readonly rootsLen: number;
  readonly bundles: Map<string, { ptr: number; len: number }>;
}

/**
 * libcurl.js hands curl its roots from a global `struct curl_blob` {data, len, flags} whose data is
 * what get_cacert() returns. It is found by those values before any request has run (so no copy of
 * it exists yet); exactly one match or none is used.
 */
export function findCaBlob(exports: WasmExports): CaStore | undefined {
  const bytes = new Uint8Array(exports.memory.buffer);
  const rootsPtr = exports.get_cacert();
  if (!rootsPtr) return undefined;
  const end = bytes.indexOf(0, rootsPtr);
  if (end < 0) return undefined;
  const rootsLen = end - rootsPtr + 1;
  const words = new Uint32Array(exports.memory.buffer);
  let found = -1;
  for (let i = 0; i + 2 < words.length; i++) {
    if (words[i] === rootsPtr && words[i + 1] === rootsLen && words[i + 2] === 0) {
      if (found >= 0) return undefined;
      found = i * 4;
    }
  }
  return found < 0 ? undefined : { exports, blobAddress: found, rootsPtr, rootsLen, bundles: new Map() };
}

/** The DER certificates in a PEM text; throws CertificateError if there are none or one is broken. */
export function parsePemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    let der: Uint8Array;
    try {
      der = fromBase64(m[1]!);
    } catch (e) {
      throw new CertificateError('extra CA certificate', `certificate ${out.length + 1} is not valid base64`, { cause: e });
    }
    // An X.509 certificate is a DER SEQUENCE with a long-form length (it is always > 127 bytes).
    if (der.length < 64 || der[0] !== 0x30 || (der[1]! & 0x80) === 0) {
      throw new CertificateError('extra CA certificate', `certificate ${out.length + 1} is not a DER X.509 certificate`);
    }
    out.push(der);
  }
  if (out.length === 0) throw new CertificateError('extra CA certificate', 'no "BEGIN CERTIFICATE" block in the PEM text');
  return out;
}

function pemOf(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${toBase64(der).replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----`;
}

/** The Mozilla roots plus `extra`, NUL-terminated in WebAssembly memory (kept for the worker's life). */
export function caBundle(ca: CaStore, extra: readonly string[]): { ptr: number; len: number } {
  const certs = extra.flatMap(parsePemCertificates);
  const key = certs.map((c) => toBase64(c)).join(',');
  const known = ca.bundles.get(key);
  if (known) return known;
  const roots = new Uint8Array(ca.exports.memory.buffer, ca.rootsPtr, ca.rootsLen - 1).slice();
  const added = new TextEncoder().encode(`\n${certs.map(pemOf).join('\n')}\n`);
  const len = roots.length + added.length + 1;
  const ptr = ca.exports.malloc(len);
  if (!ptr) throw new TelescopeError('libcurl.js is out of memory for the CA bundle');
  // malloc may have grown the memory: views are made after it.
  const mem = new Uint8Array(ca.exports.memory.buffer);
  mem.set(roots, ptr);
  mem.set(added, ptr + roots.length);
  mem[ptr + len - 1] = 0;
  const bundle = { ptr, len };
  ca.bundles.set(key, bundle);
  return bundle;
}

/**
 * Run `start` (which creates curl's easy handle synchronously, copying the CA blob into it) with the
 * blob pointing at `bundle`, and point it back at the plain roots straight after: other requests
 * never see the extra CAs.
 */
export function withCaBundle<T>(ca: CaStore, bundle: { ptr: number; len: number }, start: () => T): T {
  const set = (ptr: number, len: number) => {
    const blob = new Uint32Array(ca.exports.memory.buffer, ca.blobAddress, 3);
    blob[0] = ptr;
    blob[1] = len;
  };
  set(bundle.ptr, bundle.len);
  try {
    return start();
  } finally {
    set(ca.rootsPtr, ca.rootsLen);
  }
}
