/** A problem found in endpoint.yaml, located by a readable path into the document. */
export interface SpecProblem {
  /** e.g. `paths["/shelves/{id}"].get.x-google-backend.address` */
  readonly where: string;
  readonly message: string;
}

export class SpecError extends Error {
  readonly problems: readonly SpecProblem[];
  constructor(file: string, problems: readonly SpecProblem[]) {
    super(`${file}: ${problems.length} problem(s) in the spec`);
    this.problems = problems;
  }
  /** One line per problem, ready for a terminal or a log. */
  lines(file: string): string[] {
    return this.problems.map((p) => `${file}: ${p.where ? `${p.where}: ` : ''}${p.message}`);
  }
}

/** Render a JSON-pointer-like key path the way an operator reads it. */
export function where(...keys: readonly (string | number)[]): string {
  let out = '';
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(k)) out += out ? `.${k}` : k;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** Short printable form of an offending value. */
export function shown(value: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
