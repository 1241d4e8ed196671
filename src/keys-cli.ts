import { Command, Option } from 'commander';

const collect = (v: string, prev: string[] = []) => [...prev, v];
/** Loaded when a keys command runs, so `serve` never pays for it. */
const admin = () => import('./auth/apikeys/keys-admin.ts');

/** `keys create|list|revoke` on the embedded key store (hashes only at rest). */
export function registerKeysCommands(program: Command): void {
  const keys = program.command('keys').description('Manage the embedded API key store (--keys file:PATH): only SHA-256 hashes are stored.');

  keys
    .command('create')
    .description('Create a key; it is printed once and only its hash is stored.')
    .addOption(new Option('--store <path>', 'key store file (YAML or JSON)').env('ENDPOINTS_KEYS_STORE').makeOptionMandatory())
    .requiredOption('--project <project>', 'consumer project number the key belongs to')
    .option('--name <name>', 'id for list/revoke (default: key-<fingerprint>)')
    .option('--display-name <text>', 'human-readable name')
    .option('--service <name>', 'restrict to this service (API target); repeatable', collect)
    .option('--allowed-ip <cidr>', 'server key: allowed caller IP or CIDR; repeatable', collect)
    .option('--allowed-referrer <pattern>', 'browser key: allowed Referer pattern; repeatable', collect)
    .action(async (o) => {
      const { key, entry } = await (await admin()).createKey(o.store, {
        project: o.project,
        ...(o.name ? { name: o.name } : {}),
        ...(o.displayName ? { displayName: o.displayName } : {}),
        ...(o.service ? { services: o.service } : {}),
        ...(o.allowedIp ? { allowedIps: o.allowedIp } : {}),
        ...(o.allowedReferrer ? { allowedReferrers: o.allowedReferrer } : {}),
      });
      process.stderr.write(`created ${entry.name} for project ${entry.project}; the key is shown once, store it now:\n`);
      process.stdout.write(`${key}\n`);
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
          r?.apiTargets?.length ? `services=${r.apiTargets.map((t) => t.service).join(',')}` : '',
          r?.serverKeyRestrictions ? `ips=${r.serverKeyRestrictions.allowedIps?.join(',') ?? ''}` : '',
          r?.browserKeyRestrictions ? `referrers=${r.browserKeyRestrictions.allowedReferrers?.join(',') ?? ''}` : '',
        ].filter(Boolean);
        process.stdout.write(`${k.name}\tproject=${k.project}\tfingerprint=${k.fingerprint}\t${k.displayName}\t${what.join(' ')}\n`);
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
