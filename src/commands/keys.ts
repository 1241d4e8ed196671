import { Command, Option } from 'commander';

import { collect } from '../cli-args.ts';
/** Loaded when a keys command runs, so `serve` never pays for it. */
const admin = () => import('../auth/apikeys/keys-admin.ts');

/** What a key is and may do: the same options for `keys create` and `keys import`. */
function keyOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--store <path>', 'key store file (YAML or JSON)').env('ENDPOINTS_KEYS_STORE').makeOptionMandatory())
    .requiredOption('--project <number>', 'consumer project NUMBER the key belongs to (sent to backends as X-Endpoint-API-Consumer-Number)')
    .option('--project-id <id>', "that project's id, recorded beside the number for people (never sent)")
    .option('--display-name <text>', 'human-readable name')
    .option('--service <name[:methods]>', 'API target: NAME, or NAME:METHOD,METHOD (operationIds, a trailing * allowed); repeatable', collect)
    .option('--allowed-ip <cidr>', 'server key: allowed caller IP or CIDR; repeatable', collect)
    .option('--allowed-referrer <pattern>', 'browser key: allowed Referer pattern; repeatable', collect)
    .option('--android-app <package:sha1>', 'Android key: allowed app, PACKAGE:SHA1 of its signing certificate; repeatable', collect)
    .option('--ios-bundle-id <id>', 'iOS key: allowed bundle id; repeatable', collect);
}

type KeyFlags = Record<string, string | string[] | undefined>;

function keyOptionsOf(o: KeyFlags) {
  const list = (v: string | string[] | undefined) => (Array.isArray(v) ? v : undefined);
  const text = (v: string | string[] | undefined) => (typeof v === 'string' && v !== '' ? v : undefined);
  const pick = <K extends string, V>(k: K, v: V | undefined) => (v !== undefined ? ({ [k]: v } as Record<K, V>) : {});
  return {
    project: String(o.project),
    ...pick('name', text(o.name)),
    ...pick('displayName', text(o.displayName)),
    ...pick('services', list(o.service)),
    ...pick('allowedIps', list(o.allowedIp)),
    ...pick('allowedReferrers', list(o.allowedReferrer)),
    ...pick('androidApps', list(o.androidApp)),
    ...pick('iosBundleIds', list(o.iosBundleId)),
    ...pick('projectId', text(o.projectId)),
  };
}

/** `keys create|import|list|revoke` on the embedded key store (hashes only at rest). */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('Manage the embedded API key store (--keys file:PATH): only SHA-256 hashes are stored.');

  keyOptions(keys.command('create').description('Create a key; it is printed once and only its hash is stored.'))
    .option('--name <name>', 'id for list/revoke (default: key-<fingerprint>)')
    .addOption(new Option('--key <value>', 'store this known key value (CI fixtures) instead of generating one; it is not printed back').env('ENDPOINTS_KEY_VALUE'))
    .action(async (o) => {
      const { key, entry } = await (await admin()).createKey(o.store, {
        ...(o.key !== undefined ? { key: o.key } : {}),
        ...keyOptionsOf(o),
      });
      if (o.key !== undefined) {
        // The caller knows the value: echoing a credential into CI logs helps nobody.
        process.stderr.write(`created ${entry.name} for project ${entry.project} from the given key (only its hash is stored)\n`);
        return;
      }
      process.stderr.write(`created ${entry.name} for project ${entry.project}; the key is shown once, store it now:\n`);
      process.stdout.write(`${key}\n`);
    });

  keyOptions(keys.command('import').description('Add known key values, one per line (# comments), from a file or stdin (-); only their hashes are stored.'))
    .option('--file <file>', "file of key values; '-' reads stdin")
    .argument('[source]', "'-' reads the key values from stdin")
    .option('--name <name>', 'id for list/revoke: <name> for one key, <name>-<n> for several (default: key-<fingerprint>)')
    .action(async (source: string | undefined, o) => {
      const from = o.file ?? source;
      if (from === undefined || (o.file !== undefined && source !== undefined) || (source !== undefined && source !== '-')) {
        throw new Error("keys import reads one source: --file FILE, or '-' for stdin");
      }
      const { importKeys, readKeySource } = await import('../auth/apikeys/keys-import.ts');
      const text = await readKeySource(from);
      const entries = await importKeys(o.store, from === '-' ? 'stdin' : from, text, keyOptionsOf(o));
      for (const e of entries) process.stdout.write(`${e.name}\tproject=${e.project}\tfingerprint=${e.sha256.slice(0, 12)}\n`);
      process.stderr.write(`imported ${entries.length} key(s) into ${o.store} (only their hashes are stored)\n`);
    });

  keys
    .command('list')
    .description('List the keys in a store (names, projects, fingerprints; never keys).')
    .addOption(new Option('--store <path>', 'key store file').env('ENDPOINTS_KEYS_STORE').makeOptionMandatory())
    .option('--json', 'print JSON')
    .action(async (o) => {
      const list = await (await admin()).listKeys(o.store);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      for (const k of list) {
        const r = k.restrictions;
        const what = [
          r?.apiTargets?.length ? `services=${r.apiTargets.map((t) => (t.methods?.length ? `${t.service}:${t.methods.join('+')}` : t.service)).join(',')}` : '',
          r?.serverKeyRestrictions ? `ips=${r.serverKeyRestrictions.allowedIps?.join(',') ?? ''}` : '',
          r?.browserKeyRestrictions ? `referrers=${r.browserKeyRestrictions.allowedReferrers?.join(',') ?? ''}` : '',
          r?.androidKeyRestrictions ? `android=${r.androidKeyRestrictions.allowedApplications?.map((a) => `${a.packageName}:${a.sha1Fingerprint}`).join(',') ?? ''}` : '',
          r?.iosKeyRestrictions ? `ios=${r.iosKeyRestrictions.allowedBundleIds?.join(',') ?? ''}` : '',
        ].filter(Boolean);
        process.stdout.write(`${k.name}\tproject=${k.project}${k.projectId ? ` (${k.projectId})` : ''}\tfingerprint=${k.fingerprint}\t${k.displayName}\t${what.join(' ')}\n`);
      }
    });

  keys
    .command('revoke')
    .description('Remove a key by name or hash fingerprint.')
    .addOption(new Option('--store <path>', 'key store file').env('ENDPOINTS_KEYS_STORE').makeOptionMandatory())
    .argument('<name>', 'key name or fingerprint')
    .action(async (name: string, o) => {
      if (!(await (await admin()).revokeKey(o.store, name))) {
        process.stderr.write(`no key named "${name}" in ${o.store}\n`);
        process.exitCode = 1;
        return;
      }
      process.stderr.write(`revoked ${name}\n`);
    });
}
