import { createRequire } from 'node:module';
import jsyaml from 'js-yaml';
import type { LineCounter, Node } from 'yaml';
import type { YamlPath } from './diagnostics.js';

// Positions are only needed when there is something to report, and loading the `yaml` package
// costs more than parsing a hundred configs (a cold scan paid it on every run): required on first use.
let yamlLib: typeof import('yaml') | undefined;
const positionParser = () => (yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));

/**
 * YAML as melange reads it: every scalar a string (so `3.10` stays `3.10` and `epoch: 0` is
 * `"0"`), plain `~`/`null`/empty values null, duplicate keys an error. js-yaml's loader is an order
 * of magnitude faster than a position-keeping parse over 3,401 configs, so positions are only
 * computed (with the `yaml` package) when there is something to report.
 */
const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const nullType = new jsyaml.Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  // Called for every plain scalar of every config: the length test settles nearly all of them.
  resolve: (data: string | null) => data === null || (data.length <= 4 && NULLS.has(data)),
  construct: () => null,
});
const SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({ implicit: [nullType] });

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

export class YamlSyntaxError extends Error {
  override readonly name = 'YamlSyntaxError';
  readonly code = 'YAML_SYNTAX';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}:${line}:${column}: invalid YAML: ${reason}`, options);
  }
}

export function loadYaml(text: string, file: string): YamlValue {
  try {
    return (jsyaml.load(text, { schema: SCHEMA, filename: file }) ?? null) as YamlValue;
  } catch (e) {
    if (e instanceof jsyaml.YAMLException) {
      throw new YamlSyntaxError(file, (e.mark?.line ?? -1) + 1, (e.mark?.column ?? -1) + 1, e.reason, {
        cause: e,
      });
    }
    throw e;
  }
}

export const isMapping = (v: YamlValue | undefined): v is { [key: string]: YamlValue } =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Finds line and column (1-based) of the value at `path`; when the path goes further than the
 * document (a missing key), the deepest existing node. `keyOf` points at the key instead of the
 * value, which is where an unknown key should be reported.
 */
export class PositionIndex {
  private readonly doc;
  private readonly lines: LineCounter;

  constructor(private readonly text: string) {
    const { LineCounter, parseDocument } = positionParser();
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: false });
  }

  locate(path: YamlPath, keyOf = false, needle?: string): { line: number; column: number } {
    const { offset, end } = this.find(path, keyOf);
    let at = offset;
    if (needle !== undefined) {
      // Point at the text itself (a `${{…}}` inside a multi-line `runs`), when it is there.
      const i = this.text.indexOf(needle, offset);
      if (i >= 0 && i < end) at = i;
    }
    const pos = this.lines.linePos(at);
    return { line: pos.line, column: pos.col };
  }

  private find(path: YamlPath, keyOf: boolean): { offset: number; end: number } {
    const { isMap, isScalar, isSeq } = positionParser();
    let node: Node | null = this.doc.contents as Node | null;
    let offset = node?.range?.[0] ?? 0;
    for (let i = 0; i < path.length && node; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
        );
        if (!pair) break;
        const key = pair.key as Node | null;
        if (last && keyOf && key?.range) {
          offset = key.range[0];
          node = null;
          break;
        }
        node = pair.value as Node | null;
        offset = node?.range?.[0] ?? key?.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        node = item;
        offset = item.range?.[0] ?? offset;
      } else break;
    }
    return { offset, end: node?.range?.[2] ?? offset };
  }
}

/**
 * A config as built, as YAML (what melange writes to a package's `.melange.yaml`): keys in the
 * config's order, no anchors, long strings unfolded.
 */
export function dumpConfig(config: unknown): string {
  return jsyaml.dump(config, { indent: 2, lineWidth: -1, noRefs: true, sortKeys: false });
}
