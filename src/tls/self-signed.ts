/**
 * --generate-self-signed-cert: a certificate made at start, as ESPv2's flag
 * makes one (Common Name "localhost", valid 10 years). It is what a Google
 * Cloud load balancer needs to speak HTTP/2 to its backend (it does not
 * verify the certificate). Kept in memory only: nothing to leave on disk.
 */
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const TEN_YEARS_MS = 10 * 365.25 * 24 * 3600 * 1000;

export interface CertificatePair {
  readonly cert: string;
  readonly key: string;
}

export async function generateSelfSignedCert(now = new Date()): Promise<CertificatePair> {
  // Node's WebCrypto: @peculiar/x509 is typed for the DOM's.
  const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const serial = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
  serial[0]! &= 0x7f; // a positive serial number
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: 'CN=localhost',
      notBefore: now,
      notAfter: new Date(now.getTime() + TEN_YEARS_MS),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    },
    crypto,
  );
  const key = KeyObject.from(keys.privateKey as webcrypto.CryptoKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { cert: cert.toString('pem'), key };
}
