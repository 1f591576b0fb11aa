import type { RunEvent, RunResult } from '@melange2/coordinator';

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** One line per event, as a log (CI-friendly): `[ 3/22] x86_64 greeter-1.0.0-r0 built in 4.2s`. */
export function progressLines(total: number, write: (s: string) => void): (e: RunEvent) => void {
  let settled = 0;
  const width = String(total).length;
  const n = () => `[${String(settled).padStart(width)}/${total}]`;
  return (e) => {
    const b = 'build' in e && e.build ? `${e.build.arch} ${e.build.name}-${e.build.version}` : '';
    switch (e.type) {
      case 'dispatched':
        if (e.attempt > 1) write(`${n()} ${b} queued again (attempt ${e.attempt})`);
        break;
      case 'started':
        write(`${n()} ${b} building on ${e.agent}`);
        break;
      case 'succeeded':
        settled++;
        write(
          `${n()} ${b} built in ${secs(e.durationMs)} on ${e.agent} (${e.steps.total} steps, ${e.steps.cached} cached): ${e.packages.join(', ')}`,
        );
        break;
      case 'failed':
        settled++;
        write(`${n()} ${b} FAILED: ${e.reason}`);
        for (const l of e.logTail.slice(-10)) write(`      | ${l}`);
        break;
      case 'skipped':
        settled++;
        write(`${n()} ${b} skipped: ${e.reason}`);
        break;
      case 'cut-off':
        settled++;
        write(`${n()} ${b} not built: ${e.reason}`);
        break;
      case 'transient':
        write(`${n()} ${b} transient fault on ${e.agent}, will retry: ${e.message.split('\n')[0]}`);
        break;
      case 'waiting':
        write(
          `${n()} ${b} waits${e.name ? ` (its environment would install an older ${e.name})` : ''}` +
            (e.on.length ? ` for ${e.on.join(', ')}` : ': dispatched again'),
        );
        break;
      case 'no-agents':
        write(`no agent for ${e.arch} yet; ${e.waiting} build(s) waiting`);
        break;
      case 'refused':
        if (e.outcome === 'given-up') settled++;
        write(
          `${n()} ${b || e.id} REPORT REFUSED (${e.code}) from ${e.agent}, attempt ${e.attempt}: ${e.reason}; ` +
            (e.outcome === 'waiting'
              ? 'waiting for the right report'
              : e.outcome === 'redispatched'
                ? 'dispatched again'
                : 'given up (not a failure of the package)'),
        );
        break;
    }
  };
}

/** The closing table: every build with its result and reason, then the totals. */
export function summaryTable(r: RunResult): string {
  const rows = [...r.rows].sort(
    (a, b) => a.build.arch.localeCompare(b.build.arch) || a.build.name.localeCompare(b.build.name),
  );
  const head = ['ARCH', 'PACKAGE', 'VERSION', 'RESULT', 'TIME', 'AGENT', 'REASON'];
  const cells = rows.map((x) => [
    x.build.arch,
    x.build.name,
    x.build.version,
    x.state,
    x.durationMs !== undefined ? secs(x.durationMs) : '',
    x.agent ?? '',
    x.reason ?? x.build.reasons.join('; '),
  ]);
  const lines: string[] = [];
  if (cells.length > 0) {
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const fmt = (c: string[]) =>
      c
        .map((v, i) => (i === c.length - 1 ? v : v.padEnd(w[i]!)))
        .join('  ')
        .trimEnd();
    lines.push(fmt(head), ...cells.map(fmt));
  }
  const count = (s: string) => r.rows.filter((x) => x.state === s).length;
  const perArch = new Map<string, number>();
  for (const u of r.upToDate) {
    const arch = u.id.slice(u.id.lastIndexOf('@') + 1);
    perArch.set(arch, (perArch.get(arch) ?? 0) + 1);
  }
  const upToDate = [...perArch].map(([a, n]) => `${a} ${n}`).join(', ');
  lines.push(
    `${r.rows.length === 0 ? 'nothing to build: ' : ''}${count('succeeded')} built, ${count('failed')} failed, ${count('skipped')} skipped, ` +
      `${count('up-to-date') ? `${count('up-to-date')} cut off, ` : ''}` +
      `${r.upToDate.length} up to date${upToDate ? ` (${upToDate})` : ''}; ${r.dispatched} dispatched in ${secs(r.wallMs)}`,
  );
  if (r.problems.length > 0) lines.push(`${r.problems.length} config(s) left out: ${r.problems.join('; ')}`);
  if (r.refusedReports > 0 || count('refused') > 0)
    lines.push(
      `${r.refusedReports} report(s) refused as forged, replayed or not matching what was staged` +
        (count('refused') ? `; ${count('refused')} build(s) given up for it` : ''),
    );
  return `${lines.join('\n')}\n`;
}
