/**
 * The HTTP methods an operation can have: the operation fields of an
 * OpenAPI 2.0 path item. Anything else can only be refused (404/405), so it
 * never needs its own name downstream (a metric label, an override).
 */
export const OPERATION_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH'] as const;
export type OperationMethod = (typeof OPERATION_METHODS)[number];

const BY_NAME: ReadonlyMap<string, OperationMethod> = new Map(OPERATION_METHODS.map((m) => [m, m]));
/** Longer than any method name plus some surrounding spaces: not worth upper-casing. */
const MAX_TEXT = 16;

/** `method` itself when it is an operation method (exact, upper case), else undefined. */
export function asOperationMethod(method: string | undefined): OperationMethod | undefined {
  return method === undefined ? undefined : BY_NAME.get(method);
}

/** The operation method a header value names (any case, surrounding spaces ignored), else undefined. */
export function parseOperationMethod(text: string): OperationMethod | undefined {
  if (text.length > MAX_TEXT) return undefined;
  return BY_NAME.get(text.trim().toUpperCase());
}
