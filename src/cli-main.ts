/**
 * The CLI itself: its commands, one file each under src/commands/. Loaded by
 * src/cli.ts once the V8 limits are in force and the compile cache is on.
 */
import { Command } from 'commander';
import { gatewayVersion } from './gateway-version.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerValidateCommand } from './commands/validate.ts';
import { registerKeysCommands } from './commands/keys.ts';
import { registerSessionsCommands } from './commands/sessions.ts';
import { registerConfigsCommands } from './commands/configs.ts';
import { registerDiffCommand } from './commands/diff.ts';
import { registerContractCommand } from './commands/contract.ts';
import { registerMockCommand } from './commands/mock.ts';

/** The commands, one file each under src/commands/. */
export function buildCli(): Command {
  const program = new Command('endpoints-gateway')
    .description('An API-key gateway for serverless backends, driven by a Cloud Endpoints OpenAPI 2.0 spec (ESPv2 semantics).')
    .version(gatewayVersion(), '--version', "print the gateway's version")
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(s) });
  registerServeCommand(program);
  registerValidateCommand(program);
  registerKeysCommands(program);
  registerSessionsCommands(program);
  registerConfigsCommands(program);
  registerDiffCommand(program);
  registerContractCommand(program);
  registerMockCommand(program);
  return program;
}

// A promise rejected with nobody listening is a bug, but not a corrupted state: it is logged with
// its stack (Node would exit) and the gateway serves on.
process.on('unhandledRejection', (reason) => {
  const stack = reason instanceof Error ? reason.stack : undefined;
  process.stderr.write(`${JSON.stringify({ severity: 'ERROR', message: 'unhandled rejection', reason: String(reason), stack })}\n`);
});

buildCli()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`endpoints-gateway: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
