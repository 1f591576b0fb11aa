// The dashboard in a real browser (Debian's chromium over playwright-core) during a real
// embedded build-all of testdata/os on both arches, then report.html and the Chrome trace.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Dashboard, FileRunStore, serveDashboard } from '@melange2/coordinator';
import { launchChromium, type Page, type TestBrowser } from '@melange2/test/browser';
import { OS_REPO, type OsBootstrap, osBootstrap } from '@melange2/test/os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';
import { freePort, osRunArgs } from './test-ports.js';

const d = inject('daemons');
/** The page's probe (dashboard/main.ts): set once it has rendered. */
const READY = 'window.m2dash?.ready === true';

/** Builds by `name@arch` → state, from the summary table build-all printed. */
function summaryStates(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split('\n')) {
    const r = /^(x86_64|aarch64)\s+(\S+)\s+\S+\s+(succeeded|failed|skipped|up-to-date)\b/.exec(l);
    if (r) m.set(`${r[2]}@${r[1]}`, r[3]!);
  }
  return m;
}

/** Where screenshots go: $MELANGE2_TEST_REPORT_DIR when set, else this file's temp dir. */
function artefact(dir: string, name: string): string {
  const base = process.env['MELANGE2_TEST_REPORT_DIR'] ?? dir;
  mkdirSync(base, { recursive: true });
  return join(base, name);
}

describe('the dashboard in a real browser during build-all of testdata/os', () => {
  let b: OsBootstrap;
  let browser: TestBrowser;
  let out: string;

  beforeAll(async () => {
    b = await osBootstrap(['x86_64', 'aarch64']);
    out = join(b.dir, 'packages');
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    if (b) rmSync(b.dir, { recursive: true, force: true });
  });

  it('shows every build with its state, a bar per build, the critical path and the failure log link; then report.html and the trace', async () => {
    const port = await freePort();
    const page = await browser.context.newPage();
    const run = runCli([
      'build-all',
      OS_REPO,
      '--arch',
      'x86_64,aarch64',
      ...osRunArgs(b, out, d.buildkit),
      `--dashboard=127.0.0.1:${port}`,
    ]);
    let settled = false;
    void run.finally(() => {
      settled = true;
    });
    // The dashboard comes up once the run is planned: the runs list links to the live run.
    const base = `http://127.0.0.1:${port}`;
    for (;;) {
      if (settled) throw new Error(`build-all ended before its dashboard was reached: ${(await run).err}`);
      const ok = await page.goto(`${base}/`, { timeout: 2000 }).then(
        (r) => r?.ok() ?? false,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.waitForFunction(READY);
    const link = page.locator('table.runs a').first();
    const runId = (await link.textContent())!;
    await link.click();
    await page.waitForFunction(READY);
    // Live: server-sent events bring every change until the run is over.
    await page.waitForSelector('#status[data-status="finished"]', { timeout: 600_000 });
    const r = await run;
    expect(r.err).toContain(`dashboard at ${base}/runs/${runId}/`);
    expect(r.code).toBe(1);
    const states = summaryStates(r.out);
    expect(states.size).toBeGreaterThanOrEqual(20);
    expect(states.get('broken@x86_64')).toBe('failed');
    await checkRun(page, runId, states, true);
    await page.screenshot({ path: artefact(b.dir, 'dashboard.png'), fullPage: true });
    if (process.env['M2_DOCS_SCREENSHOT'])
      copyFileSync(artefact(b.dir, 'dashboard.png'), process.env['M2_DOCS_SCREENSHOT']);

    // report.html: the same views from one file, offline.
    const report = join(out, 'report.html');
    expect(existsSync(report)).toBe(true);
    const offline = await browser.context.newPage();
    await offline.goto(`file://${report}`);
    await offline.waitForFunction(READY);
    await checkRun(offline, runId, states, false);
    expect(readFileSync(report, 'utf8')).not.toMatch(/<script src=|https?:\/\/(?!127\.)[a-z]/i);

    // `report` later makes the same file; `trace` writes one X slice per build that ran.
    const again = join(b.dir, 'again.html');
    expect((await runCli(['report', runId, '--out-dir', out, '-o', again])).code).toBe(0);
    expect(readFileSync(again, 'utf8')).toContain(runId);
    const traceFile = join(b.dir, 'trace.json');
    const tr = await runCli(['trace', '--out-dir', out, '--format', 'chrome', '-o', traceFile]);
    expect(tr.code).toBe(0);
    const trace = JSON.parse(readFileSync(traceFile, 'utf8')) as {
      traceEvents: { ph: string; cat?: string; name: string; args: { id?: string; name?: string } }[];
    };
    const slices = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat?.startsWith('build'));
    // The engine's stages nest in each build's slice (fixed names, nothing from the config).
    const stages = new Set(trace.traceEvents.filter((e) => e.cat === 'stage').map((e) => e.name));
    expect([...stages].sort()).toEqual(['environment', 'index', 'package', 'solve']);
    const ran = [...states].filter(([, s]) => s === 'succeeded' || s === 'failed').map(([id]) => id);
    expect(slices.map((s) => s.args.id).sort()).toEqual(ran.sort());
    expect(trace.traceEvents.filter((e) => e.name === 'process_name').map((e) => e.args.name)).toEqual(
      expect.arrayContaining(['x86_64', 'aarch64']),
    );

    // The trace in speedscope (shipped with the dashboard), in the same browser.
    const served = await serveDashboard(
      new Dashboard({ store: new FileRunStore(join(out, '.melange2-runs')) }),
    );
    try {
      const viewer = await browser.context.newPage();
      const errors: string[] = [];
      viewer.on('pageerror', (e) => errors.push(e.message));
      const profile = encodeURIComponent(`${served.url}/runs/${runId}/trace.json`);
      await viewer.goto(`${served.url}/speedscope/index.html#profileURL=${profile}&title=${runId}`);
      // speedscope names the page after the profile once it has loaded it.
      await viewer.waitForFunction(`document.title.includes(${JSON.stringify(runId)})`, undefined, {
        timeout: 30_000,
      });
      expect(await viewer.title()).toContain(runId);
      expect(await viewer.locator('canvas').count()).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      await viewer.screenshot({ path: artefact(b.dir, 'speedscope.png') });
    } finally {
      await served.close();
    }
  }, 900_000);
});

async function checkRun(
  page: Page,
  runId: string,
  states: Map<string, string>,
  served: boolean,
): Promise<void> {
  for (const [id, state] of states)
    expect(await page.locator(`#build-rows .row[data-id="${id}"]`).getAttribute('data-state'), id).toBe(
      state,
    );
  const started = [...states.values()].filter((s) => s === 'succeeded' || s === 'failed').length;
  expect(Number(await page.locator('#gantt').getAttribute('data-bars'))).toBe(started);
  expect(Number(await page.locator('#gantt').getAttribute('data-critical'))).toBeGreaterThan(0);
  const chain = (await page.evaluate('window.m2dash.critical')) as string[];
  expect(chain.length).toBeGreaterThan(0);
  expect(await page.locator('#build-rows .row.crit').count()).toBe(chain.length);
  const log = page.locator('.failure[data-id="broken@x86_64"] a.log');
  expect(await log.getAttribute('href')).toBe(`/runs/${runId}/builds/x86_64/broken/log`);
  expect(await page.locator('.failure[data-id="broken@x86_64"] pre').textContent()).toMatch(
    /this package does not build/,
  );
  expect(await page.locator('#totals [data-arch="aarch64"][data-state="failed"]').textContent()).toBe(
    String([...states].filter(([id, s]) => id.endsWith('@aarch64') && s === 'failed').length),
  );
  expect(await page.locator('#speedscope').count()).toBe(served ? 1 : 0);
}
