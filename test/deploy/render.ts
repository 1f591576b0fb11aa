/**
 * The tools the deploy tests run: `kubectl kustomize` to render an overlay, and
 * `kubernetes-validate --strict` (installed by scripts/setup into the tools dir) to check it
 * against a Kubernetes version's schemas. Both bounded in time and output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY_DIR = join(ROOT, 'deploy/k8s');
const TOOLS = process.env['MELANGE2_TOOLS_DIR'] ?? join(ROOT, '.tools');
const MAX_OUTPUT = 16 * 1024 * 1024;

function onPath(name: string): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

export const KUBECTL = onPath('kubectl');
export const KUBERNETES_VALIDATE = [join(TOOLS, 'venv/kubernetes-validate/bin/kubernetes-validate')]
  .concat(onPath('kubernetes-validate') ?? [])
  .find((p) => existsSync(p));

/** The overlay directories under deploy/k8s/overlays. */
export function overlays(): string[] {
  return readdirSync(join(DEPLOY_DIR, 'overlays'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function kustomize(kubectl: string, overlay: string): string {
  return execFileSync(kubectl, ['kustomize', join(DEPLOY_DIR, 'overlays', overlay)], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: MAX_OUTPUT,
  });
}

export interface Validation {
  readonly ok: boolean;
  /** ERROR lines, and WARN lines other than those for kinds with no schema (CRDs). */
  readonly problems: string[];
  /** Kinds kubernetes-validate has no schema for (e.g. KEDA's ScaledObject). */
  readonly unknownKinds: string[];
}

/**
 * `kubernetes-validate --strict` of each named render against Kubernetes `version`, in one run
 * (its start-up dominates): each render is written to `dir` as `<name>.yaml`.
 */
export function validate(
  bin: string,
  renders: Readonly<Record<string, string>>,
  version: string,
  dir: string,
): Record<string, Validation> {
  const files = Object.entries(renders).map(([name, yaml]) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return [name, file] as const;
  });
  const r = spawnSync(bin, ['-k', version, '--strict', '--quiet', ...files.map(([, f]) => f)], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: MAX_OUTPUT,
  });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  const unknown = /Couldn't find schema for kind (\S+)/;
  const failed = r.status !== 0 || lines.some((l) => l.startsWith('Traceback'));
  return Object.fromEntries(
    files.map(([name, file]) => {
      const own = lines.filter((l) => l.includes(`${file} `));
      const unknownKinds = [...new Set(own.flatMap((l) => unknown.exec(l)?.[1] ?? []))];
      const problems = own.filter((l) => !unknown.test(l) && /^(ERROR|WARN)/.test(l));
      return [name, { ok: !failed && problems.length === 0, problems, unknownKinds }];
    }),
  );
}
