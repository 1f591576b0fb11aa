/** The per-package table of a real-corpus run, as Markdown. */
import type { Finding } from './checks.js';
import type { TestResult, TimelineBuild } from './run-results.js';

export interface Row {
  readonly name: string;
  readonly build?: TimelineBuild;
  readonly packages: readonly { readonly name: string; readonly bytes: number }[];
  readonly test?: TestResult;
  readonly findings: readonly Finding[];
}

const kib = (n: number) =>
  n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;

function seconds(b: TimelineBuild | undefined): string {
  if (b?.startedAt === undefined || b.finishedAt === undefined) return '';
  return `${Math.round((b.finishedAt - b.startedAt) / 1000)}`;
}

export function renderTable(rows: readonly Row[], meta: { arch: string; runId?: string }): string {
  const lines = [
    `real corpus on ${meta.arch}${meta.runId ? ` (run ${meta.runId})` : ''}`,
    '',
    '| package | result | build s | steps cached | packages (size) | test | findings |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const result = r.build?.state ?? 'not built';
    const steps = r.build?.steps ? `${r.build.steps.cached}/${r.build.steps.total}` : '';
    const pkgs = r.packages.map((p) => `${p.name} ${kib(p.bytes)}`).join(', ');
    const test = r.test ? `${r.test.result}${r.test.seconds ? ` (${r.test.seconds} s)` : ''}` : '—';
    const found = r.findings.length
      ? [
          ...new Set(
            r.findings.map((f) => `${f.check} ×${r.findings.filter((g) => g.check === f.check).length}`),
          ),
        ].join(', ')
      : 'ok';
    lines.push(`| ${r.name} | ${result} | ${seconds(r.build)} | ${steps} | ${pkgs} | ${test} | ${found} |`);
  }
  const built = rows.filter((r) => r.build?.state === 'succeeded' || r.build?.state === 'up-to-date').length;
  const failed = rows.filter((r) => r.build?.state === 'failed').length;
  lines.push(
    '',
    `${built}/${rows.length} built, ${failed} failed, ${rows.length - built - failed} not built`,
  );
  const details = rows.flatMap((r) => r.findings.map((f) => `- ${f.package}: ${f.check}: ${f.message}`));
  if (details.length)
    lines.push(
      '',
      'findings:',
      ...details.slice(0, 200),
      ...(details.length > 200 ? [`- … ${details.length - 200} more`] : []),
    );
  return `${lines.join('\n')}\n`;
}
