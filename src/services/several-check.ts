/**
 * What `validate` checks across several --spec, as `serve` would refuse them
 * at start: two specs serving one service, or two services claiming one host.
 */
import { buildHostTable } from './host-table.ts';
import { namesOf, sameServiceTwice } from './services.ts';

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
