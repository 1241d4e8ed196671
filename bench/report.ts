// Turns measurements into the one table the benchmark prints (markdown, pasteable into the README).
import { median, range } from './stats.ts';

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: readonly number[]): Spread {
  const r = range(xs);
  return { median: median(xs), min: r.min, max: r.max, n: xs.length };
}

/** A target from the issue: reported as pass/miss, never asserted. `pass` is null when not judged (smoke). */
export interface Target {
  id: string;
  text: string;
  measured: number;
  pass: boolean | null;
}

export interface Row {
  measurement: string;
  median: string;
  p99: string;
  /** Server CPU (user + system, whole process tree) per request, µs. */
  cpu: string;
  ratio: string;
  target: string;
  result: string;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function fmtRps(s: Spread): string {
  return s.n > 1 ? `${int.format(s.median)} req/s (${int.format(s.min)}–${int.format(s.max)})` : `${int.format(s.median)} req/s`;
}

export function fmtMs(v: number): string {
  return v >= 100 ? int.format(v) : v.toFixed(1);
}

export function fmtP99(s: Spread): string {
  return s.n > 1 ? `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)})` : fmtMs(s.median);
}

export function fmtCpu(s: Spread): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

export function fmtX(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a';
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

export function verdict(ts: readonly Target[]): string {
  if (ts.length === 0) return '';
  if (ts.some((t) => t.pass === null)) return 'not judged (smoke)';
  return ts.map((t) => (ts.length > 1 ? `${t.id}: ` : '') + (t.pass ? 'pass' : '**miss**')).join(', ');
}

export function markdownTable(rows: readonly Row[]): string {
  const head = ['measurement', 'median (min–max)', 'p99 ms', 'CPU µs/req', 'ratio', 'target', 'result'];
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[r.measurement, r.median, r.p99, r.cpu, r.ratio, r.target, r.result].map(esc).join(' | ')} |`);
  return lines.join('\n');
}
