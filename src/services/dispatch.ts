/**
 * The serving port's entry when several services share it: the request's
 * host picks the service once, and that service's own handler (its snapshot,
 * chain and front door) takes the request from there. A host no service
 * names gets a handler that answers the gateway's health routes and ESP's
 * 404 for everything else, with no config.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../context.ts';
import { Errors, type GatewayError } from '../errors.ts';
import type { Stage } from '../chain/stage.ts';
import type { Snapshot } from '../runtime/snapshot.ts';
import { createFrontDoor, type FrontDoorParts, type LocalRoute } from '../http/front-door.ts';

/** What one request handler serves: a service, or nothing (an unknown host). */
export interface ServedUnit {
  readonly current: () => Snapshot | undefined;
  readonly stages: readonly Stage[];
  readonly routes: readonly LocalRoute[];
}

export interface EntryHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
  runUpgrade(req: IncomingMessage, ctx: RequestContext): Promise<GatewayError | undefined>;
}

const NOT_DEFINED: Stage = Object.freeze({
  name: 'unknownHost',
  why: 'no service is named for this host and there is no --default-service: ESP refuses what its config does not define',
  run: () => Errors.notDefined(),
});

/** For hosts no service names: liveness, readiness and the assertion keys still answer; the rest is ESP's 404. */
export function unknownHostUnit(p: Pick<FrontDoorParts, 'ready' | 'jwks' | 'cors' | 'forwardAuth'>): ServedUnit {
  return { current: () => undefined, stages: [NOT_DEFINED], routes: createFrontDoor({ ...p, docs: undefined, signin: undefined }) };
}

export function byHost(handlers: readonly EntryHandler[], none: EntryHandler, pick: (req: IncomingMessage) => number): EntryHandler {
  const of = (req: IncomingMessage): EntryHandler => handlers[pick(req)] ?? none;
  return {
    handle: (req, res) => of(req).handle(req, res),
    runUpgrade: (req, ctx) => of(req).runUpgrade(req, ctx),
  };
}
