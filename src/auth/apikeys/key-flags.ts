/**
 * What `keys create` flags mean in the store's shapes (the API Keys service's
 * `Restrictions`), checked before anything is written:
 *   --project NUMBER                     the consumer project NUMBER (sent as X-Endpoint-API-Consumer-Number)
 *   --project-id ID                      its project id, kept beside it for people (never sent)
 *   --service NAME[:METHOD,METHOD]       apiTargets: [{ service: NAME, methods: [METHOD, ...] }]
 *   --android-app PACKAGE:SHA1           androidKeyRestrictions.allowedApplications
 *   --ios-bundle-id ID                   iosKeyRestrictions.allowedBundleIds
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RawApiTarget, RawAndroidApplication, RawRestrictions } from './compile.ts';

export interface RestrictionFlags {
  readonly services?: readonly string[] | undefined;
  readonly allowedIps?: readonly string[] | undefined;
  readonly allowedReferrers?: readonly string[] | undefined;
  readonly androidApps?: readonly string[] | undefined;
  readonly iosBundleIds?: readonly string[] | undefined;
}

/** Refuses a project id where the number belongs: backends receive it as X-Endpoint-API-Consumer-Number. */
export function checkProjectNumber(project: string): string {
  const p = project.trim();
  if (/^\d{1,20}$/.test(p)) return p;
  throw new Error(
    `--project takes the consumer project NUMBER (backends receive it as X-Endpoint-API-Consumer-Number; quotas count per number), got "${p}". ` +
      `Find it with: gcloud projects describe ${/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(p) ? p : 'PROJECT_ID'} --format='value(projectNumber)'; ` +
      'pass the project id too, if you want it recorded, as --project-id ID',
  );
}

/** `NAME` (every method) or `NAME:METHOD,METHOD` (each may end in `*`, as the API Keys service allows). */
export function parseServiceTarget(v: string): RawApiTarget {
  const colon = v.indexOf(':');
  const service = (colon < 0 ? v : v.slice(0, colon)).trim();
  if (service === '') throw new Error(`--service "${v}": expected NAME or NAME:METHOD,METHOD`);
  if (colon < 0) return { service, methods: [] };
  const methods = v.slice(colon + 1).split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (methods.length === 0) throw new Error(`--service "${v}": no methods after ":" (leave out the ":" for every method)`);
  return { service, methods };
}

/** `PACKAGE:SHA1`, the certificate's SHA-1 in hex with or without colons (`DA:39:A3:...`, as keytool prints it). */
export function parseAndroidApp(v: string): RawAndroidApplication {
  const colon = v.indexOf(':');
  const packageName = colon < 0 ? '' : v.slice(0, colon).trim();
  const sha1 = colon < 0 ? '' : v.slice(colon + 1).trim();
  if (packageName === '' || !/^([0-9a-fA-F]{2}:?){19}[0-9a-fA-F]{2}$/.test(sha1)) {
    throw new Error(`--android-app "${v}": expected PACKAGE:SHA1, e.g. com.example.app:DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09`);
  }
  return { packageName, sha1Fingerprint: sha1.toUpperCase() };
}

/** The restrictions the flags ask for; undefined for none. A key has at most one application restriction. */
export function restrictionsFromFlags(f: RestrictionFlags): RawRestrictions | undefined {
  const kinds = [
    f.allowedIps?.length ? '--allowed-ip' : '',
    f.allowedReferrers?.length ? '--allowed-referrer' : '',
    f.androidApps?.length ? '--android-app' : '',
    f.iosBundleIds?.length ? '--ios-bundle-id' : '',
  ].filter(Boolean);
  if (kinds.length > 1) throw new Error(`a key has one application restriction: ${kinds.join(' and ')} cannot be combined`);
  const r: { -readonly [K in keyof RawRestrictions]: RawRestrictions[K] } = {};
  if (f.services?.length) r.apiTargets = f.services.map(parseServiceTarget);
  if (f.allowedIps?.length) r.serverKeyRestrictions = { allowedIps: [...f.allowedIps] };
  if (f.allowedReferrers?.length) r.browserKeyRestrictions = { allowedReferrers: [...f.allowedReferrers] };
  if (f.androidApps?.length) r.androidKeyRestrictions = { allowedApplications: f.androidApps.map(parseAndroidApp) };
  if (f.iosBundleIds?.length) {
    const ids = f.iosBundleIds.map((s) => s.trim());
    if (ids.some((s) => s === '')) throw new Error('--ios-bundle-id: empty bundle id');
    r.iosKeyRestrictions = { allowedBundleIds: ids };
  }
  return Object.keys(r).length > 0 ? r : undefined;
}

/** A store in a folder that does not exist yet: the folder is made, private to this user (0700). */
export async function ensureStoreFolder(storePath: string): Promise<void> {
  await mkdir(dirname(storePath), { recursive: true, mode: 0o700 });
}
