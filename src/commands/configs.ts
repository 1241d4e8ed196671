import { Command, Option } from 'commander';
import type { VersionFile } from '../config/versions.ts';

interface Listed {
  readonly id: string;
  readonly version: string;
  readonly file: string;
  readonly name: string;
  readonly time: string;
  readonly operations: number | null;
  /** undefined: valid. */
  readonly problem: string | undefined;
}

/** Every version of the folder, newest first, each validated as the gateway would. */
async function listed(folder: string, serviceName: string | undefined): Promise<{ rows: Listed[]; files: VersionFile[] }> {
  const { listVersionFiles, versionOf } = await import('../config/versions.ts');
  const { loadService } = await import('../config/service.ts');
  const { configIdOf } = await import('../config/config-id.ts');
  const { defaultCacheDir, openSpecCache } = await import('../config/spec-cache.ts');
  const { SpecError } = await import('../config/problems.ts');
  const cache = openSpecCache(defaultCacheDir(process.env));
  const files = await listVersionFiles(folder);
  const rows: Listed[] = [];
  for (const f of [...files].reverse()) {
    const base = { version: versionOf(f.bytes), file: f.file, name: f.name, time: new Date(f.mtimeMs).toISOString() };
    try {
      const s = await loadService(f.file, serviceName ? { serviceName } : {}, cache);
      rows.push({ ...base, id: configIdOf(s.config.version, f.digest), operations: s.config.operations.length, problem: undefined });
    } catch (err) {
      const problem = err instanceof SpecError ? (err.lines(f.name)[0] ?? 'invalid') : (err as Error).message;
      rows.push({ ...base, id: configIdOf(base.version, f.digest), operations: null, problem });
    }
  }
  return { rows, files };
}

/** The config a gateway reading the folder serves now: the pinned one, else the newest valid one. */
function servedNow(rows: readonly Listed[], pinned: Listed | undefined): Listed | undefined {
  return pinned ?? rows.find((r) => r.problem === undefined);
}

const specOption = () => new Option('--spec <folder>', 'folder of config versions').env('ENDPOINTS_SPEC').makeOptionMandatory();
const serviceOption = () => new Option('--service-name <name>', "service name (default: the spec's host)").env('ENDPOINTS_SERVICE_NAME');

function fail(message: string): void {
  process.stderr.write(`endpoints-gateway: ${message}\n`);
  process.exitCode = 2;
}

/** `configs list|rollback|unpin` on a `--spec` folder of config versions. */
export function registerConfigsCommands(program: Command): void {
  const configs = program.command('configs').description('Config versions in a --spec folder: list them, roll back to one through the pin file.');

  configs
    .command('list')
    .description('List the versions, newest first: id, version, file, time, operations, valid or the first problem.')
    .addOption(specOption())
    .addOption(serviceOption())
    .option('--json', 'print JSON')
    .action(async (o: { spec: string; serviceName?: string; json?: boolean }) => {
      const { isFolder, readPin, findVersion } = await import('../config/versions.ts');
      if (!(await isFolder(o.spec))) return fail(`${o.spec} is not a folder of config versions`);
      const { rows, files } = await listed(o.spec, o.serviceName);
      const pin = await readPin(o.spec);
      const pinnedFile = pin !== undefined ? findVersion(files, pin) : undefined;
      const pinned = rows.find((r) => r.file === pinnedFile?.file);
      const served = servedNow(rows, pinned);
      if (o.json) {
        const out = rows.map((r) => ({ config_id: r.id, version: r.version, file: r.name, time: r.time, operations: r.operations, valid: r.problem === undefined, problem: r.problem ?? null, served: r === served, pinned: r === pinned }));
        process.stdout.write(`${JSON.stringify({ pin: pin ?? null, configs: out }, null, 2)}\n`);
        return;
      }
      if (pin !== undefined && !pinned) process.stdout.write(`pin file names ${pin}, which no file in the folder has: gateways refuse to reload\n`);
      const table = [['', 'CONFIG ID', 'VERSION', 'FILE', 'TIME', 'OPERATIONS', 'STATUS']];
      for (const r of rows) {
        const mark = r === served ? (r === pinned ? 'P' : '*') : '';
        table.push([mark, r.id, r.version, r.name, r.time, r.operations === null ? '-' : String(r.operations), r.problem ?? 'valid']);
      }
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) process.stdout.write(`${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
      process.stdout.write(pinned ? 'P: served, pinned by the pin file\n' : '*: served (the newest valid version)\n');
    });

  configs
    .command('rollback')
    .description('Pin the version before the one served (or --to ID); gateways switch on their next reload (SIGHUP or --watch).')
    .addOption(specOption())
    .addOption(serviceOption())
    .option('--to <id>', 'config id (or file name) to pin')
    .action(async (o: { spec: string; serviceName?: string; to?: string }) => {
      const { isFolder, readPin, findVersion, writePin } = await import('../config/versions.ts');
      if (!(await isFolder(o.spec))) return fail(`${o.spec} is not a folder of config versions`);
      const { rows, files } = await listed(o.spec, o.serviceName);
      let target: Listed | undefined;
      if (o.to !== undefined) {
        const f = findVersion(files, o.to);
        target = rows.find((r) => r.file === f?.file);
        if (!target) return fail(`no config ${o.to} in ${o.spec} (see configs list)`);
      } else {
        const pin = await readPin(o.spec);
        const pinnedFile = pin !== undefined ? findVersion(files, pin) : undefined;
        const served = servedNow(rows, rows.find((r) => r.file === pinnedFile?.file));
        if (!served) return fail(`no valid config in ${o.spec}`);
        // rows are newest first: the previous version is the next valid one after the served one.
        target = rows.slice(rows.indexOf(served) + 1).find((r) => r.problem === undefined);
        if (!target) return fail(`no valid config before ${served.id} in ${o.spec}`);
      }
      if (target.problem !== undefined) return fail(`config ${target.id} is invalid, not pinning it: ${target.problem}`);
      await writePin(o.spec, target.id);
      process.stdout.write(`pinned ${target.id} (${target.name}); gateways serving ${o.spec} switch to it on their next reload (SIGHUP, or at once with --watch)\n`);
    });

  configs
    .command('unpin')
    .description('Remove the pin file: gateways go back to the newest valid version on their next reload.')
    .addOption(specOption())
    .action(async (o: { spec: string }) => {
      const { isFolder, removePin } = await import('../config/versions.ts');
      if (!(await isFolder(o.spec))) return fail(`${o.spec} is not a folder of config versions`);
      const had = await removePin(o.spec);
      process.stdout.write(had ? `unpinned; gateways serving ${o.spec} go back to the newest valid version on their next reload\n` : 'no pin file: nothing to do\n');
    });
}
