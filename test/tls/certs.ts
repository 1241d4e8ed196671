// Certificates for the TLS tests, made with Debian's openssl into a temp folder: a private CA and the
// leaf certificates it issues (server ones for localhost and 127.0.0.1, client ones with a URI SAN).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pair {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function makeCa(dir: string, name: string): Pair {
  const p = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  openssl(['req', '-x509', ...EC, '-keyout', p.key, '-out', p.cert, '-days', '2', '-subj', `/O=Test/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return p;
}

let serial = 1000;

/** A leaf certificate from `ca`: `usage` serverAuth (SAN localhost, 127.0.0.1) or clientAuth (SAN `san`). */
export function issue(dir: string, ca: Pair, name: string, usage: 'serverAuth' | 'clientAuth', san?: string): Pair {
  const p = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${san ?? 'DNS:localhost,IP:127.0.0.1'}\nextendedKeyUsage=${usage}\n`);
  openssl(['req', ...EC, '-keyout', p.key, '-out', csr, '-subj', `/O=Test Org/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++), '-days', '2', '-out', p.cert, '-extfile', ext]);
  return p;
}

/** A self-signed server certificate for 127.0.0.1 (RSA), for a server a test's process trusts through NODE_EXTRA_CA_CERTS. */
export function selfSigned(dir: string, name = 'self'): Pair {
  const p = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  return p;
}
