import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

/** swagger-ui-dist files the page uses, served from the installed package (no CDN). */
const FILES: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** Gzip of text assets, made once (the bundle is 1.7 MB). */
  readonly gzip: Buffer | undefined;
}

let dir: string | undefined;
const loaded = new Map<string, Asset>();

function distDir(): string {
  dir ??= path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  return dir;
}

/** The asset of that name, read at first use; undefined for any other name. */
export function asset(name: string): Asset | undefined {
  const type = FILES[name];
  if (type === undefined) return undefined;
  let a = loaded.get(name);
  if (!a) {
    let body = readFileSync(path.join(distDir(), name));
    // The source map is not shipped with the page: drop the comment naming it.
    if (name.endsWith('.js')) body = Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
    else if (name.endsWith('.css')) body = Buffer.from(body.toString('utf8').replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, ''));
    a = { type, body, gzip: type.startsWith('text/') ? gzipSync(body) : undefined };
    loaded.set(name, a);
  }
  return a;
}

/** swagger-ui-dist's version, shown in the page's footer comment. */
export function rendererVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(distDir(), 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    return '';
  }
}
