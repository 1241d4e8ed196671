/**
 * TLS to https backends (ESPv2's --ssl_backend_client_cert_path and
 * --ssl_backend_client_root_certs_file): a client certificate for backends
 * that require one (client.crt and client.key in a folder), and the roots a
 * backend's certificate must chain to (a private CA) in place of Node's
 * bundled ones. Files are followed: a change applies to new backend
 * connections; open ones finish with what they were made with.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import type { buildConnector } from 'undici';
import type { Logger } from '../observability/logger.ts';
import { watchFiles, type WatchedFiles } from './watched-files.ts';

export interface BackendTlsFlags {
  /** --ssl-backend-client-cert-path: a folder holding client.crt and client.key. */
  readonly clientCertPath?: string | undefined;
  /** --ssl-backend-client-root-certs-file: PEM roots that backend certificates must chain to. */
  readonly rootCertsFile?: string | undefined;
}

export type TlsConnectOptions = Pick<tls.ConnectionOptions, 'cert' | 'key' | 'ca'>;

export interface BackendTls {
  /** A connector that is rebuilt by `make` with the credentials in force whenever they change. */
  connector(make: (tlsOptions: TlsConnectOptions) => buildConnector.connector): buildConnector.connector;
  close(): void;
}

export function wantsBackendTls(f: BackendTlsFlags | undefined): boolean {
  return f !== undefined && (f.clientCertPath !== undefined || f.rootCertsFile !== undefined);
}

async function readFlagFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new Error(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** What errors call the two settings: the flags, or an x-endpoints-tls block's fields. */
export interface BackendTlsNames {
  readonly clientCertPath: string;
  readonly rootCertsFile: string;
}

const FLAG_NAMES: BackendTlsNames = { clientCertPath: '--ssl-backend-client-cert-path', rootCertsFile: '--ssl-backend-client-root-certs-file' };

/** Reads the files; throws with the setting's name when one is missing or unusable. */
export async function openBackendTls(f: BackendTlsFlags, log: Logger, names: BackendTlsNames = FLAG_NAMES): Promise<BackendTls> {
  const files: string[] = [];
  const contents: Buffer[] = [];
  if (f.clientCertPath !== undefined) {
    files.push(path.join(f.clientCertPath, 'client.crt'), path.join(f.clientCertPath, 'client.key'));
    contents.push(await readFlagFile(names.clientCertPath, files[0]!), await readFlagFile(names.clientCertPath, files[1]!));
  }
  if (f.rootCertsFile !== undefined) {
    files.push(f.rootCertsFile);
    contents.push(await readFlagFile(names.rootCertsFile, f.rootCertsFile));
  }
  const toOptions = (c: readonly Buffer[]): TlsConnectOptions => ({
    ...(f.clientCertPath !== undefined ? { cert: c[0], key: c[1] } : {}),
    ...(f.rootCertsFile !== undefined ? { ca: c[c.length - 1] } : {}),
  });
  let current = toOptions(contents);
  try {
    tls.createSecureContext(current);
  } catch (err) {
    throw new Error(`${names.clientCertPath} / ${names.rootCertsFile}: not usable: ${(err as Error).message}`, { cause: err });
  }
  let generation = 0;
  const watched: WatchedFiles = watchFiles(
    files,
    contents,
    (next) => {
      const opts = toOptions(next);
      try {
        tls.createSecureContext(opts);
      } catch (err) {
        log.warn({ files, err: (err as Error).message }, 'backend TLS credentials not reloaded: the new files are not usable; keeping the previous ones');
        return;
      }
      current = opts;
      generation++;
      log.info({ files }, 'backend TLS credentials reloaded: new backend connections use them');
    },
    (err) => log.warn({ files, err: err.message }, 'backend TLS credentials could not be read; keeping the previous ones'),
  );
  return {
    connector(make) {
      let built = make(current);
      let builtFor = generation;
      return (options, callback) => {
        if (builtFor !== generation) {
          built = make(current);
          builtFor = generation;
        }
        return built(options, callback);
      };
    },
    close: () => watched.close(),
  };
}
