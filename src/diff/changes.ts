/** One difference between two configs, as `endpoints-gateway diff` reports it. */

/** Ordered by how much a reviewer must look: `--fail-on breaking` fails on both of the last two. */
export const CLASSES = ['compatible', 'breaking', 'security-relevant'] as const;
export type ChangeClass = (typeof CLASSES)[number];

export interface Change {
  readonly class: ChangeClass;
  /** A stable rule name (`operation-removed`, `security-opened`, ...), for tools. */
  readonly rule: string;
  /** `GET /v1/shelves/{id}` when the change is an operation's. */
  readonly operation?: string;
  /** The place in the spec, as validate names places (`paths["/x"].get.parameters[query:limit]`). */
  readonly where: string;
  readonly message: string;
}

export type FailOn = 'breaking' | 'any' | 'none';

/** Whether a change makes `diff` exit 1 under --fail-on. */
export function reaches(c: Change, failOn: FailOn): boolean {
  if (failOn === 'none') return false;
  if (failOn === 'any') return true;
  return c.class === 'breaking' || c.class === 'security-relevant';
}
