import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';

import { collect, specModelOrExit } from '../cli-args.ts';

/** Exit codes: 0 every check passed, 1 some failed, 2 bad input (usage, spec, URL, unknown operation). */
const BAD_INPUT = 2;

function httpUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL');
  if (u.search || u.hash) throw new InvalidArgumentError('the URL must not carry a query or fragment');
  return v;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected seconds, e.g. 30');
  return n;
}

/** `contract`: exercises the API at --url against the spec, for CI. */
export function registerContractCommand(program: Command): void {
  program
    .command('contract')
    .description('Test the API served at --url (normally the gateway in front of the backend under test) against the spec: positive requests, security and routing probes; exit 0 when all pass, 1 when any fails, 2 on bad input.')
    .addOption(new Option('--spec <file>', 'OpenAPI 2.0 spec (endpoint.yaml)').env('ENDPOINTS_SPEC').makeOptionMandatory())
    .addOption(new Option('--url <url>', 'base URL of the API under test, e.g. http://127.0.0.1:8080').env('ENDPOINTS_CONTRACT_URL').makeOptionMandatory().argParser(httpUrl))
    .addOption(new Option('--key <key>', 'API key for operations that need one (never printed; shown as $KEY)').env('ENDPOINTS_CONTRACT_KEY'))
    .addOption(new Option('--jwt <token>', 'end-user JWT for operations that need one (never printed; shown as $JWT)').env('ENDPOINTS_CONTRACT_JWT'))
    .addOption(new Option('--junit <file>', 'write a JUnit XML report here').env('ENDPOINTS_CONTRACT_JUNIT'))
    .addOption(new Option('--operation <id>', 'only this operationId; repeatable (routing probes run only without it)').argParser(collect))
    .addOption(new Option('--timeout <seconds>', 'per-request deadline').env('ENDPOINTS_CONTRACT_TIMEOUT').default(30).argParser(seconds))
    .exitOverride((err) => {
      // Usage errors are bad input (2), as a broken spec is; help and version exit 0.
      process.exit(err.exitCode === 0 ? 0 : BAD_INPUT);
    })
    .action(async (o) => {
      const model = await specModelOrExit(o.spec);
      if (model === undefined) return;
      const operations: string[] = o.operation ?? [];
      const known = new Set(model.operations.map((op) => op.op.id));
      const unknown = operations.filter((id) => !known.has(id));
      if (unknown.length > 0) {
        process.stderr.write(`endpoints-gateway contract: no operation ${unknown.map((id) => `"${id}"`).join(', ')} in ${o.spec} (operations: ${[...known].join(', ')})\n`);
        process.exitCode = BAD_INPUT;
        return;
      }
      const { runContract } = await import('../contract/run.ts');
      const { junitReport, textReport, ensureDirFor } = await import('../contract/report.ts');
      const secrets = [
        ...(o.key ? [{ value: String(o.key), variable: 'KEY' }] : []),
        ...(o.jwt ? [{ value: String(o.jwt), variable: 'JWT' }] : []),
      ];
      const results = await runContract(model, { url: o.url, key: o.key, jwt: o.jwt, operations, timeoutMs: o.timeout * 1000 });
      process.stdout.write(textReport(results, o.url, secrets));
      if (o.junit) {
        try {
          ensureDirFor(o.junit);
          writeFileSync(o.junit, junitReport(results, o.url, `contract ${model.config.serviceName}`, secrets));
        } catch (err) {
          process.stderr.write(`endpoints-gateway contract: cannot write ${o.junit}: ${(err as Error).message}\n`);
          process.exitCode = BAD_INPUT;
          return;
        }
      }
      process.exitCode = results.some((r) => r.outcome === 'fail') ? 1 : 0;
    });
}
