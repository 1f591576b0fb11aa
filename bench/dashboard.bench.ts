/**
 * The dashboard of a simulated Wolfi run in headless chromium: the real Wolfi graph
 * (../shared/corpora/wolfi-os, x86_64 + aarch64, about 6,800 builds, as in build-all-wolfi),
 * scheduled on 16 slots per arch with 1 min per declared cpu, rendered from its report.html.
 * Prints (no thresholds):
 *   - render time: navigation start → the page's first full render (parse, analysis, Gantt, lists),
 *     and the render function alone;
 *   - responsiveness: Gantt redraw time while zooming (p50/p95 of 40 steps), and the longest
 *     main-thread task seen during the zooming.
 *
 *   npm run bench -- dashboard [slotsPerArch=16]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportHtml } from '../apps/coordinator/src/observe/dashboard-page.ts';
import type { RunTimeline, TimelineBuild } from '../apps/coordinator/src/observe/timeline-types.ts';
import { planRun } from '../apps/coordinator/src/run/plan-run.ts';
import { launchChromium } from '../test/harness/src/browser.ts';

const corpus = fileURLToPath(new URL('../../shared/corpora/wolfi-os', import.meta.url));
const slots = Number(process.argv[2] ?? 16);

interface Node {
  readonly id: string;
  readonly name: string;
  readonly arch: string;
  readonly deps: readonly string[];
  readonly cost: number;
}

async function graph(): Promise<{ nodes: Node[]; source: string }> {
  if (existsSync(corpus)) {
    const plan = await planRun({
      repo: corpus,
      arches: ['x86_64', 'aarch64'],
      published: new Map(),
      cacheDir: false,
    });
    return { nodes: plan.builds, source: `wolfi-os (${plan.builds.length} builds)` };
  }
  // No corpus: a random DAG of the same size and shape (a few deps each, on earlier builds).
  const nodes: Node[] = [];
  for (const arch of ['x86_64', 'aarch64'])
    for (let i = 0; i < 3400; i++) {
      const deps =
        i === 0
          ? []
          : Array.from({ length: 1 + (i % 4) }, (_, k) => `p${Math.floor((i * (k + 7919)) % i)}@${arch}`);
      nodes.push({
        id: `p${i}@${arch}`,
        name: `p${i}`,
        arch,
        deps: [...new Set(deps)],
        cost: 60_000 * (1 + (i % 3)),
      });
    }
  return { nodes, source: 'synthetic (no corpus at ../shared/corpora/wolfi-os)' };
}

/** List scheduling: each arch's ready builds go to its free slots in order of readiness. */
function simulate(nodes: Node[]): RunTimeline {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const finish = new Map<string, number>();
  const builds: TimelineBuild[] = [];
  const left = new Map(nodes.map((n) => [n.id, n.deps.filter((d) => byId.has(d)).length]));
  const dependents = new Map<string, string[]>();
  for (const n of nodes)
    for (const d of n.deps) if (byId.has(d)) dependents.set(d, [...(dependents.get(d) ?? []), n.id]);
  for (const arch of ['x86_64', 'aarch64']) {
    const free = Array.from({ length: slots }, () => t0);
    const ready = nodes.filter((n) => n.arch === arch && left.get(n.id) === 0).map((n) => ({ n, at: t0 }));
    while (ready.length) {
      ready.sort((a, b) => a.at - b.at);
      const { n, at } = ready.shift()!;
      let slot = 0;
      for (let s = 1; s < free.length; s++) if (free[s]! < free[slot]!) slot = s;
      const start = Math.max(at, free[slot]!);
      const end = start + n.cost;
      free[slot] = end;
      finish.set(n.id, end);
      builds.push({
        id: n.id,
        name: n.name,
        arch,
        version: '1.0.0-r0',
        deps: n.deps.filter((d) => byId.has(d)),
        state: n.id.length % 97 === 0 ? 'failed' : 'succeeded',
        readyAt: at,
        dispatchedAt: start,
        startedAt: start,
        finishedAt: end,
        agent: `${arch}-${Math.floor(slot / 4)}`,
        slot: slot % 4,
        attempts: 1,
        steps: { total: 20, cached: n.id.length % 20 },
      });
      for (const d of dependents.get(n.id) ?? []) {
        const l = left.get(d)! - 1;
        left.set(d, l);
        if (l === 0)
          ready.push({ n: byId.get(d)!, at: Math.max(...byId.get(d)!.deps.map((x) => finish.get(x) ?? t0)) });
      }
    }
  }
  const end = Math.max(...builds.map((b) => b.finishedAt!));
  return {
    version: 1,
    runId: 'bench-wolfi',
    repo: corpus,
    arches: ['x86_64', 'aarch64'],
    status: 'finished',
    startedAt: t0,
    finishedAt: end,
    builds,
    upToDate: [],
    agents: ['x86_64', 'aarch64'].flatMap((arch) =>
      Array.from({ length: Math.ceil(slots / 4) }, (_, i) => ({
        id: `${arch}-${i}`,
        arch,
        slots: 4,
        lastHeartbeat: end,
        alive: true,
      })),
    ),
  };
}

const { nodes, source } = await graph();
const t = simulate(nodes);
const dir = mkdtempSync(join(tmpdir(), 'm2-dashboard-bench-'));
const file = join(dir, 'report.html');
const html = await reportHtml(t);
writeFileSync(file, html);
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.goto(`file://${file}`);
  await page.waitForFunction('window.m2dash?.ready === true', undefined, { timeout: 60_000 });
  const first = (await page.evaluate(
    '[window.m2dash.readyAt, window.m2dash.renderMs, window.m2dash.bars]',
  )) as number[];
  // Idle first: what is measured next is the zooming alone.
  await page.waitForTimeout(1000);
  const resp = (await page.evaluate(`(async () => {
    let longest = 0;
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longest = Math.max(longest, e.duration); });
    obs.observe({ type: 'longtask', buffered: false });
    await new Promise((r) => setTimeout(r, 100));
    const draws = [];
    for (let i = 0; i < 40; i++) {
      draws.push(window.m2dash.redraw(i < 20 ? 0.8 : 1.25));
      await new Promise((r) => requestAnimationFrame(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    obs.disconnect();
    draws.sort((a, b) => a - b);
    return [draws[20], draws[38], longest];
  })()`)) as number[];
  const [loadMs, renderMs, bars] = first as [number, number, number];
  const [p50, p95, longest] = resp as [number, number, number];
  process.stdout.write(
    `dashboard: ${source}, ${t.builds.length} builds on ${slots} slots per arch; report.html ${(html.length / 1e6).toFixed(2)} MB\n` +
      `  render: ${loadMs.toFixed(0)} ms from navigation to the first full render (target < 1000 ms); render function ${renderMs.toFixed(0)} ms; ${bars} Gantt bars\n` +
      `  responsiveness: Gantt redraw while zooming p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms; longest main-thread task ${longest.toFixed(0)} ms\n`,
  );
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
