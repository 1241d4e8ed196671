/** `validate`: check a spec (or every version in a folder) the way `serve` would load it. */
import { Command, Option } from 'commander';
import { SpecError } from '../config/problems.ts';
import { loadServiceOffThread } from '../config/service-thread.ts';
import { defaultCacheDir, openSpecCache } from '../config/spec-cache.ts';
import { specFilesOf } from '../config/versions.ts';
import { docsPathProblems } from '../docs-page/docs-page.ts';
import { docsPathArg, specList } from './serve.ts';
import { severalServicesProblem, type CheckedService } from '../services/several-check.ts';
import { printSpecError } from '../cli-args.ts';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('Check a spec; exit 0 when valid, else print one line per problem and exit 2.')
    .addOption(
      new Option('--spec <file|folder>', 'OpenAPI 2.0 spec (endpoint.yaml), or a folder of config versions (each is checked); repeat to check several services of one gateway together (their hosts may not overlap)')
        .env('ENDPOINTS_SPEC')
        .makeOptionMandatory()
        .argParser(specList),
    )
    .addOption(new Option('--service-name <name>', "service name (default: the spec's host)").env('ENDPOINTS_SERVICE_NAME'))
    .addOption(new Option('--docs-path <path>', 'also refuse operations that collide with the docs page at this path').env('ENDPOINTS_DOCS_PATH').argParser(docsPathArg))
    .action(async (o) => {
      const specs = o.spec as string[];
      if (specs.length > 1 && o.serviceName) {
        process.stderr.write('endpoints-gateway: --service-name names one service; with several --spec each service is named by its spec (host)\n');
        process.exitCode = 2;
        return;
      }
      // A valid spec is also recorded in the validated-spec cache, so images can warm it at build time.
      const cache = openSpecCache(defaultCacheDir(process.env));
      const checked: CheckedService[] = [];
      for (const spec of specs) await validateOne(spec, o, cache, checked);
      const problem = specs.length > 1 && process.exitCode === undefined ? severalServicesProblem(checked) : undefined;
      if (problem) {
        process.stderr.write(`endpoints-gateway: ${problem}\n`);
        process.exitCode = 2;
      }
    });
}

/** Checks one --spec (every version of a folder); the valid ones are added to `checked`. */
async function validateOne(spec: string, o: { serviceName?: string; docsPath?: string }, cache: ReturnType<typeof openSpecCache>, checked: CheckedService[]): Promise<void> {
  const files = await specFilesOf(spec).catch((err: unknown) => {
    if (!(err instanceof SpecError)) throw err;
    printSpecError(spec, err);
    process.exitCode = 2;
    return [];
  });
  for (const file of files) {
    try {
      const { config } = await loadServiceOffThread(file, o.serviceName ? { serviceName: o.serviceName } : {}, cache);
      checked.push({ spec, file, name: config.serviceName, hostNames: config.hostNames ?? [] });
      const docs = o.docsPath !== undefined ? docsPathProblems(config, o.docsPath) : [];
      if (docs.length > 0) throw new SpecError(file, docs);
      process.stdout.write(`${file}: valid (${config.operations.length} operations, service ${config.serviceName})\n`);
      for (const w of config.warnings ?? []) process.stdout.write(`${file}: warning: ${w}\n`);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      printSpecError(file, err);
      process.exitCode = 2;
    }
  }
}
