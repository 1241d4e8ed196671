/**
 * What several --spec may not do, checked by `serve` at start and by
 * `validate` before a deploy: two specs serving one service, or two services
 * claiming one host. Nothing of the serving stack is loaded here.
 */
import { buildHostTable } from './host-table.ts';

/** `host` and x-google-endpoints names, or the service name when the spec names no host. */
export function namesOf(s: { readonly name: string; readonly hostNames: readonly string[] }): readonly string[] {
  return s.hostNames.length > 0 ? s.hostNames : [s.name.toLowerCase()];
}

/** The refusal when two specs are one service (its quotas, keys and config status would mix); undefined when none. */
export function sameServiceTwice(services: readonly { readonly name: string; readonly file: string }[]): string | undefined {
  const seen = new Map<string, string>();
  for (const s of services) {
    const other = seen.get(s.name);
    if (other !== undefined) return `two --spec serve the same service ${s.name}: ${other} and ${s.file}`;
    seen.set(s.name, s.file);
  }
  return undefined;
}

export interface CheckedService {
  /** The --spec it came from (a file or a folder). */
  readonly spec: string;
  /** The version file checked. */
  readonly file: string;
  readonly name: string;
  readonly hostNames: readonly string[];
}

/** The first problem, in serve's words; undefined when the specs can share one gateway. */
export function severalServicesProblem(checked: readonly CheckedService[]): string | undefined {
  // A folder's versions are one service: its newest checked version speaks for it.
  const bySpec = new Map<string, CheckedService>();
  for (const c of checked) bySpec.set(c.spec, c);
  const clash = sameServiceTwice([...bySpec.values()].map((s) => ({ name: s.name, file: s.spec })));
  if (clash) return clash;
  try {
    buildHostTable(
      checked.map((c) => ({ names: namesOf(c), value: c.spec, owner: `${c.name} (${c.spec})` })),
      undefined,
    );
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}
