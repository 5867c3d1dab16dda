/**
 * A throw-away certificate authority for HTTPS tests, made with the openssl CLI: a CA certificate
 * and server certificates it issues for given DNS names and IP addresses (P-256 keys, valid for a
 * week from now).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerCert {
  readonly key: string;
  readonly cert: string;
}

export interface TestCa {
  /** The CA certificate, PEM. */
  readonly caPem: string;
  /** A server certificate (with its key) for these names, issued by this CA. */
  issue(san: { dns?: readonly string[]; ip?: readonly string[] }): ServerCert;
  dispose(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestCa(name = 'Telescope Test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'telescope-ca-'));
  writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-new', '-key', 'ca.key', '-subj', `/CN=${name}`, '-out', 'ca.csr'], dir);
  openssl(['x509', '-req', '-in', 'ca.csr', '-signkey', 'ca.key', '-days', '7', '-extfile', 'ca.ext', '-out', 'ca.pem'], dir);
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  let serial = 1;
  return {
    caPem,
    issue({ dns = [], ip = [] }) {
      const n = serial++;
      const san = [...dns.map((d) => `DNS:${d}`), ...ip.map((i) => `IP:${i}`)].join(',');
      writeFileSync(join(dir, `s${n}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `s${n}.key`], dir);
      openssl(['req', '-new', '-key', `s${n}.key`, '-subj', `/CN=${dns[0] ?? ip[0] ?? 'server'}`, '-out', `s${n}.csr`], dir);
      openssl(['x509', '-req', '-in', `s${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-days', '7', '-extfile', `s${n}.ext`, '-out', `s${n}.pem`], dir);
      return { key: readFileSync(join(dir, `s${n}.key`), 'utf8'), cert: readFileSync(join(dir, `s${n}.pem`), 'utf8') };
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
