// Bundles the dashboard page (main.ts and what it imports) into one minified script, with the
// stylesheet: `dist/dashboard/app.js` and `app.css`. Run by the package's build; the server
// bundles in memory when running from sources without a build.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** The page's script and stylesheet, as text (the server imports it by URL). @public */
export async function bundleDashboard() {
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [here('./main.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2022',
    platform: 'browser',
    write: false,
    legalComments: 'none',
  });
  return { js: r.outputFiles[0].text, css: readFileSync(here('./styles.css'), 'utf8') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { js, css } = await bundleDashboard();
  await mkdir(here('../dist/dashboard'), { recursive: true });
  await writeFile(here('../dist/dashboard/app.js'), js);
  await writeFile(here('../dist/dashboard/app.css'), css);
  process.stdout.write(`dashboard: app.js ${js.length} bytes, app.css ${css.length} bytes\n`);
}
