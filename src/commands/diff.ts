import { Command, Option } from 'commander';
import { printSpecError } from '../cli-args.ts';

/** `endpoints-gateway diff OLD NEW`: what changes between two configs, and whether CI should stop. */
export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .description('Compare two specs (files, or config ids in a --spec folder) by what the gateway does; exit 1 when a change reaches --fail-on, 2 on invalid input.')
    .argument('<old>', 'the current spec: a file, or a config id or file name in the --spec folder')
    .argument('<new>', 'the proposed spec')
    .addOption(new Option('--spec <folder>', 'folder of config versions, to name specs by config id').env('ENDPOINTS_SPEC'))
    .addOption(new Option('--format <format>', 'output').choices(['text', 'json', 'markdown']).default('text'))
    .addOption(new Option('--fail-on <level>', 'exit 1 when a change reaches it: breaking (breaking or security-relevant), any, none').choices(['breaking', 'any', 'none']).default('breaking'))
    .addOption(new Option('--service-name <name>', "service name (default: each spec's host)").env('ENDPOINTS_SERVICE_NAME'))
    // A usage error (a missing argument, `--format xml`) is invalid input: exit 2, never the 1
    // that tells CI a change reached --fail-on. Help and --version stay 0.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action(async (oldArg: string, newArg: string, o: { spec?: string; format: string; failOn: 'breaking' | 'any' | 'none'; serviceName?: string }) => {
      const { loadDiffSide } = await import('../diff/load.ts');
      const { compareConfigs } = await import('../diff/compare.ts');
      const { formatJson, formatMarkdown, formatText } = await import('../diff/format.ts');
      const { reaches } = await import('../diff/changes.ts');
      const { SpecError } = await import('../config/problems.ts');
      const opts = o.serviceName ? { serviceName: o.serviceName } : {};
      let sides;
      try {
        sides = [await loadDiffSide(oldArg, o.spec, opts), await loadDiffSide(newArg, o.spec, opts)] as const;
      } catch (err) {
        if (err instanceof SpecError) {
          printSpecError(oldArg, err);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      const [a, b] = sides;
      const changes = compareConfigs(a, b);
      const text = o.format === 'json' ? formatJson(a, b, changes) : o.format === 'markdown' ? formatMarkdown(a, b, changes) : formatText(a, b, changes);
      process.stdout.write(text);
      process.exitCode = changes.some((c) => reaches(c, o.failOn)) ? 1 : 0;
    });
}
