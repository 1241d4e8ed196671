/**
 * The shapes the chain asks of optional parts, types only: the modules that
 * implement them (src/validation/) never import the chain back.
 */
import type { IncomingMessage } from 'node:http';
import type { Operation, ServiceConfig } from '../config/types.ts';
import type { GatewayError } from '../errors.ts';

/** --validate report|enforce: the request checked against its operation's contract (its body read whole). */
export type CheckRequest = (
  req: IncomingMessage,
  config: ServiceConfig,
  op: Operation,
  rawQuery: string | undefined,
  bindings: ReadonlyArray<readonly [string, string]>,
) => Promise<GatewayError | undefined>;
