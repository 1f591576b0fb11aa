import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { RunTimeline } from './timeline-types.js';

/** The dashboard's page: a shell around the bundled script, served or as a self-contained report. */

export interface DashboardAssets {
  readonly js: string;
  readonly css: string;
}

let cached: Promise<DashboardAssets> | undefined;

/**
 * The bundled script and stylesheet: `dist/dashboard/` of this package (made by its build), or,
 * when running from the TypeScript sources (tests, benches), bundled in memory from `dashboard/`
 * so that it is never older than they are.
 */
export function dashboardAssets(): Promise<DashboardAssets> {
  cached ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) {
      const dist = (f: string) => fileURLToPath(new URL(`../../dist/dashboard/${f}`, import.meta.url));
      return { js: await readFile(dist('app.js'), 'utf8'), css: await readFile(dist('app.css'), 'utf8') };
    }
    const bundler = new URL('../../dashboard/bundle.mjs', import.meta.url).href;
    const { bundleDashboard } = (await import(bundler)) as { bundleDashboard(): Promise<DashboardAssets> };
    return bundleDashboard();
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

type Boot =
  | { readonly mode: 'list' }
  | { readonly mode: 'run'; readonly runId: string }
  | { readonly mode: 'report'; readonly timeline: RunTimeline };

/** JSON that is safe inside a `<script>` element (no `</script>`, no `<!--`). */
const scriptJson = (v: unknown) =>
  JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function page(title: string, boot: Boot, css: string, script: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>${css}</style></head>
<body><div id="app">loading…</div>
<script type="application/json" id="m2-boot">${scriptJson(boot)}</script>
${script}
</body></html>
`;
}

/** The served page: the script comes from `/dashboard/app.js`. */
export async function servedPage(boot: { mode: 'list' } | { mode: 'run'; runId: string }): Promise<string> {
  const { css } = await dashboardAssets();
  const title = boot.mode === 'run' ? `melange2-orch run ${boot.runId}` : 'melange2-orch runs';
  return page(title, boot, css, '<script src="/dashboard/app.js"></script>');
}

/** `report.html`: one file with the script, the stylesheet and the run's timeline inside. */
export async function reportHtml(t: RunTimeline): Promise<string> {
  const { js, css } = await dashboardAssets();
  // The bundle is inline: a `</script` in it would end the element early.
  const inline = js.replace(/<\/script/gi, '<\\/script');
  return page(
    `melange2-orch run ${t.runId}`,
    { mode: 'report', timeline: t },
    css,
    `<script>${inline}</script>`,
  );
}
