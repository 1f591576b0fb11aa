import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@melange2/melange';
import { describe, expect, it } from 'vitest';
import { parseDocument, visit } from 'yaml';

// The hot path reads configs with js-yaml; the `yaml` package (what error positions come from) is
// the reference: both must give the same value for every file, or a config would mean one thing
// when it parses and be reported against another when it does not.
const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

/** The `yaml` package's reading of `text` as melange reads YAML: scalars strings, plain nulls null. */
function reference(text: string): unknown {
  const doc = parseDocument(text, { schema: 'failsafe' });
  if (doc.errors.length > 0) throw doc.errors[0];
  visit(doc, {
    Scalar(_key, node) {
      if (node.type === 'PLAIN' && (node.value === null || NULLS.has(String(node.value)))) node.value = null;
    },
  });
  return doc.toJS() ?? null;
}

/** Every `*.yaml` directly under `dir` and under its `pipelines/` tree. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, deep: boolean) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory() && (deep || e.name === 'pipelines')) walk(p, true);
      else if (e.isFile() && e.name.endsWith('.yaml')) out.push(p);
    }
  };
  walk(dir, false);
  return out.sort();
}

/** Files where the two disagree (or one fails and the other does not), with what each gave. */
function disagreements(files: readonly string[]): { file: string; js: unknown; ref: unknown }[] {
  const bad: { file: string; js: unknown; ref: unknown }[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    let js: unknown;
    let ref: unknown;
    try {
      js = loadYaml(text, f);
    } catch (e) {
      js = { error: (e as Error).name };
    }
    try {
      ref = reference(text);
    } catch (e) {
      ref = { error: (e as Error).name };
    }
    const jsFailed = typeof js === 'object' && js !== null && 'error' in js;
    const refFailed = typeof ref === 'object' && ref !== null && 'error' in ref;
    if (jsFailed !== refFailed || (!jsFailed && JSON.stringify(js) !== JSON.stringify(ref)))
      bad.push({ file: f, js, ref });
  }
  return bad;
}

const testdata = fileURLToPath(new URL('../../../testdata', import.meta.url));
const corpus =
  process.env['WOLFI_CORPUS'] ??
  fileURLToPath(new URL('../../../../shared/corpora/wolfi-os', import.meta.url));

describe('loadYaml (js-yaml) and the yaml package read configs alike', () => {
  it('on the repository test data', () => {
    const files = ['os', 'depgraph/repo', 'melange'].flatMap((d) =>
      existsSync(join(testdata, d)) ? yamlFiles(join(testdata, d)) : [],
    );
    expect(files.length).toBeGreaterThan(10);
    expect(disagreements(files)).toEqual([]);
  });

  it('keeps scalars as written and plain nulls null', () => {
    const text = 'a: 3.10\nb: 0\nc:\nd: ~\ne: "null"\nf: [x, null, "~"]\ng: |\n  line\n';
    expect(loadYaml(text, 't.yaml')).toEqual(reference(text));
    expect(loadYaml(text, 't.yaml')).toEqual({
      a: '3.10',
      b: '0',
      c: null,
      d: null,
      e: 'null',
      f: ['x', null, '~'],
      g: 'line\n',
    });
  });

  it.skipIf(!existsSync(corpus))(
    'on every file of the Wolfi corpus',
    () => {
      const files = yamlFiles(corpus);
      expect(files.length).toBeGreaterThan(3000);
      expect(disagreements(files).map((d) => d.file)).toEqual([]);
    },
    300_000,
  );
});
