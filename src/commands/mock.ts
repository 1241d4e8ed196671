import { Command, Option } from 'commander';
import { specModelOrExit, wholeNumber } from '../cli-args.ts';


/** `mock`: a backend made from the spec, to test the gateway's contract before the backend exists. */
export function registerMockCommand(program: Command): void {
  program
    .command('mock')
    .description("Serve the spec's own paths (with basePath) as a backend: each operation answers its first 2xx with its example, else a body generated from its schema.")
    .addOption(new Option('--spec <file>', 'OpenAPI 2.0 spec (endpoint.yaml)').env('ENDPOINTS_SPEC').makeOptionMandatory())
    // 8082 is serve's default --backend, so a gateway started without flags reaches the mock.
    .addOption(new Option('--port <n>', 'listening port (0: any free port)').env('ENDPOINTS_MOCK_PORT').default(8082).argParser(wholeNumber('--port', 0, 65535)))
    .addOption(new Option('--host <addr>', 'listen address').env('ENDPOINTS_MOCK_HOST').default('127.0.0.1'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error', 'silent']).env('LOG_LEVEL').default('info'))
    .action(async (o) => {
      const { createLogger, flushLogs } = await import('../observability/logger.ts');
      const { startMock } = await import('../mock/server.ts');
      const logger = createLogger({ level: o.logLevel });
      const model = await specModelOrExit(o.spec);
      if (model === undefined) return;
      const mock = await startMock(model, { port: o.port, host: o.host, logger });
      logger.info({ port: mock.port, host: o.host, spec: o.spec, operations: model.operations.length }, 'endpoints-gateway mock listening');
      const stop = () => void mock.close().then(() => flushLogs(logger, 2000)).then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
