import { CLASSES, type Change, type ChangeClass } from './changes.ts';
import type { DiffSide } from './load.ts';

const ORDER: Record<ChangeClass, number> = { 'security-relevant': 0, breaking: 1, compatible: 2 };

function sorted(changes: readonly Change[]): Change[] {
  return [...changes].sort((x, y) => ORDER[x.class] - ORDER[y.class]);
}

function counts(changes: readonly Change[]): Record<ChangeClass, number> {
  const c = { compatible: 0, breaking: 0, 'security-relevant': 0 } as Record<ChangeClass, number>;
  for (const ch of changes) c[ch.class]++;
  return c;
}

function summary(changes: readonly Change[]): string {
  const c = counts(changes);
  return `${c.breaking} breaking, ${c['security-relevant']} security-relevant, ${c.compatible} compatible`;
}

export function formatText(a: DiffSide, b: DiffSide, changes: readonly Change[]): string {
  const lines = [`${a.label} (${a.configId}) -> ${b.label} (${b.configId}): ${changes.length === 0 ? 'no changes' : summary(changes)}`];
  for (const c of sorted(changes)) {
    lines.push(`${c.class.toUpperCase().padEnd(17)} ${c.operation ? `${c.operation}: ` : ''}${c.message}  [${c.where}]`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatJson(a: DiffSide, b: DiffSide, changes: readonly Change[]): string {
  const side = (s: DiffSide) => ({ spec: s.file, config_id: s.configId, version: s.config.version, service: s.config.serviceName });
  return `${JSON.stringify({ old: side(a), new: side(b), summary: counts(changes), changes: sorted(changes) }, null, 2)}\n`;
}

/** Table cells: no line breaks, pipes escaped, code spans for places. */
function cell(s: string): string {
  return s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function code(s: string): string {
  const t = cell(s);
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

const TITLE: Record<ChangeClass, string> = {
  'security-relevant': 'Security-relevant',
  breaking: 'Breaking',
  compatible: 'Compatible',
};

/** For a pull-request comment: a summary line, then one table per class, the most serious first. */
export function formatMarkdown(a: DiffSide, b: DiffSide, changes: readonly Change[]): string {
  const out = [`### API config diff: \`${a.configId}\` → \`${b.configId}\``, ''];
  if (changes.length === 0) {
    out.push('No changes in what the gateway does.');
    return `${out.join('\n')}\n`;
  }
  out.push(`**${summary(changes)}**`, '');
  for (const cls of [...CLASSES].sort((x, y) => ORDER[x] - ORDER[y])) {
    const list = changes.filter((c) => c.class === cls);
    if (list.length === 0) continue;
    out.push(`#### ${TITLE[cls]} (${list.length})`, '', '| operation | change | where |', '|---|---|---|');
    for (const c of list) out.push(`| ${c.operation ? code(c.operation) : ''} | ${cell(c.message)} | ${code(c.where)} |`);
    out.push('');
  }
  return `${out.join('\n')}`;
}
