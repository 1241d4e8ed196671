/**
 * The serving port's TLS (ESPv2's --ssl_server_cert_path and companions):
 * server.crt and server.key from a folder, or a certificate generated at
 * start; the protocol range; optional client certificates verified against a
 * root bundle (--ssl_server_root_cert_path). Files are re-read when they
 * change and the new credentials go to tls.Server#setSecureContext: new
 * handshakes use them, open connections carry on with the old ones.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.ts';
import { watchFiles, type WatchedFiles } from './watched-files.ts';

/** ESPv2's spellings of --ssl_minimum_protocol / --ssl_maximum_protocol. */
export const TLS_PROTOCOLS = ['TLSv1.0', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** Envoy's default minimum for a listener, which ESPv2 keeps. */
export const DEFAULT_MIN_PROTOCOL: TlsProtocol = 'TLSv1.2';

export interface ServerTlsFlags {
  /** --ssl-server-cert-path: a folder holding server.crt and server.key. */
  readonly certPath?: string | undefined;
  /** --generate-self-signed-cert: a certificate for CN=localhost made at start. */
  readonly selfSigned?: boolean | undefined;
  /** --ssl-server-root-cert-path: client certificates are required and verified against these roots. */
  readonly clientRootCertFile?: string | undefined;
  readonly minProtocol?: TlsProtocol | undefined;
  readonly maxProtocol?: TlsProtocol | undefined;
}

export interface ServerTls {
  /** For tls.createServer: credentials, protocol range, client-certificate policy. */
  readonly options: tls.TlsOptions;
  /** Whether client certificates are required and verified. */
  readonly verifiesClients: boolean;
  /** Starts following the files: each valid change goes to server.setSecureContext. */
  follow(server: tls.Server): void;
  close(): void;
}

/** Whether any TLS flag asks for an HTTPS listener. */
export function wantsTls(f: ServerTlsFlags | undefined): boolean {
  return f !== undefined && (f.certPath !== undefined || f.selfSigned === true);
}

/** A flag combination that cannot work, or undefined. */
export function serverTlsFlagsError(f: ServerTlsFlags): string | undefined {
  if (f.certPath !== undefined && f.selfSigned) return '--ssl-server-cert-path and --generate-self-signed-cert cannot be used together';
  if (!wantsTls(f)) {
    if (f.clientRootCertFile !== undefined) return '--ssl-server-root-cert-path needs --ssl-server-cert-path or --generate-self-signed-cert (client certificates are verified on an HTTPS listener)';
    if (f.minProtocol !== undefined || f.maxProtocol !== undefined) return '--ssl-minimum-protocol and --ssl-maximum-protocol need --ssl-server-cert-path or --generate-self-signed-cert';
  }
  const min = TLS_PROTOCOLS.indexOf(f.minProtocol ?? DEFAULT_MIN_PROTOCOL);
  if (f.maxProtocol !== undefined && TLS_PROTOCOLS.indexOf(f.maxProtocol) < min) return `--ssl-maximum-protocol ${f.maxProtocol} is below the minimum ${f.minProtocol ?? DEFAULT_MIN_PROTOCOL}`;
  return undefined;
}

/** Node spells TLS 1.0 without the ".0". */
function nodeVersion(p: TlsProtocol): tls.SecureVersion {
  return (p === 'TLSv1.0' ? 'TLSv1' : p) as tls.SecureVersion;
}

async function readFlagFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

function credentials(files: readonly Buffer[], withClientRoots: boolean): tls.SecureContextOptions {
  return { cert: files[0], key: files[1], ...(withClientRoots ? { ca: files[2] } : {}) };
}

/** Reads (or makes) the credentials; throws with the flag's name when a file is missing or unusable. */
export async function openServerTls(f: ServerTlsFlags, log: Logger): Promise<ServerTls> {
  const files: string[] = [];
  let contents: Buffer[];
  if (f.certPath !== undefined) {
    files.push(path.join(f.certPath, 'server.crt'), path.join(f.certPath, 'server.key'));
    contents = [await readFlagFile('--ssl-server-cert-path', files[0]!), await readFlagFile('--ssl-server-cert-path', files[1]!)];
  } else {
    // Loaded only here: @peculiar/x509 costs ~250 ms of a cold start, and most gateways never make a certificate.
    const made = await (await import('./self-signed.ts')).generateSelfSignedCert();
    contents = [Buffer.from(made.cert), Buffer.from(made.key)];
  }
  const verifiesClients = f.clientRootCertFile !== undefined;
  if (verifiesClients) {
    contents.push(await readFlagFile('--ssl-server-root-cert-path', f.clientRootCertFile!));
    files.push(f.clientRootCertFile!);
  }
  const initial = credentials(contents, verifiesClients);
  try {
    tls.createSecureContext(initial);
  } catch (err) {
    throw new Error(`--ssl-server-cert-path: the certificate, key or root bundle is not usable: ${(err as Error).message}`, { cause: err });
  }
  const protocols = { minVersion: nodeVersion(f.minProtocol ?? DEFAULT_MIN_PROTOCOL), ...(f.maxProtocol ? { maxVersion: nodeVersion(f.maxProtocol) } : {}) };
  let watched: WatchedFiles | undefined;
  return {
    options: { ...initial, ...protocols, ...(verifiesClients ? { requestCert: true, rejectUnauthorized: true } : {}) },
    verifiesClients,
    follow(server) {
      // A generated certificate has no file to follow.
      if (files.length === 0 || f.certPath === undefined) return;
      watched = watchFiles(
        files,
        contents,
        (next) => {
          const opts = { ...credentials(next, verifiesClients), ...protocols };
          try {
            // Checked first: a half-written pair keeps the credentials in force.
            tls.createSecureContext(opts);
            server.setSecureContext(opts);
            log.info({ files }, 'TLS credentials reloaded: new connections use them');
          } catch (err) {
            log.warn({ files, err: (err as Error).message }, 'TLS credentials not reloaded: the new files are not usable; keeping the previous ones');
          }
        },
        (err) => log.warn({ files, err: err.message }, 'TLS credentials could not be read; keeping the previous ones'),
      );
    },
    close: () => watched?.close(),
  };
}
