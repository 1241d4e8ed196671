/**
 * The results as people and CI systems read them: a table (operation, check,
 * result, status), then each failure with its reason and the request as a
 * `curl` line; and JUnit XML, one testcase per operation × check. Secrets are
 * masked in both.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import junitModule from 'junit-report-builder';
import { curlLine, maskSecrets, type Secret } from './curl.ts';
import type { CheckResult } from './run.ts';

// junit-report-builder is CommonJS: its module object is the builder itself.
const junit = junitModule as unknown as typeof junitModule.default;

const MARKS = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

export function textReport(results: readonly CheckResult[], url: string, secrets: readonly Secret[]): string {
  const rows = results.map((r) => [r.operation, r.check, MARKS[r.outcome], r.status === undefined ? '' : String(r.status), r.outcome === 'skip' ? (r.reason ?? '') : r.kind ?? '']);
  const head = ['operation', 'check', 'result', 'status', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const failures = results.filter((r) => r.outcome === 'fail');
  if (failures.length > 0) {
    out.push('', 'Failures:');
    failures.forEach((r, i) => {
      out.push('', `${i + 1}. ${r.operation} / ${r.check} [${r.kind ?? 'failure'}]`, `   ${r.reason ?? ''}`);
      if (r.request) out.push(`   ${curlLine(url, r.request, secrets)}`);
    });
  }
  const count = (o: CheckResult['outcome']) => results.filter((r) => r.outcome === o).length;
  out.push('', `${results.length} checks: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
  return `${maskSecrets(out.join('\n'), secrets)}\n`;
}

export function junitReport(results: readonly CheckResult[], url: string, suiteName: string, secrets: readonly Secret[]): string {
  const builder = junit.newBuilder();
  const suite = builder.testSuite().name(suiteName);
  for (const r of results) {
    const tc = suite.testCase().className(`contract.${r.operation}`).name(r.check).time(Math.round(r.ms) / 1000);
    if (r.outcome === 'fail') {
      const curl = r.request ? curlLine(url, r.request, secrets) : '';
      tc.failure(maskSecrets(r.reason ?? 'failed', secrets), r.kind ?? 'failure');
      if (curl) tc.standardOutput(curl);
    } else if (r.outcome === 'skip') {
      tc.skipped();
      if (r.reason) tc.standardOutput(`skipped: ${r.reason}`);
    }
  }
  return maskSecrets(builder.build(), secrets);
}

export function ensureDirFor(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
}
