import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';
import type { Reporter } from 'vitest/node';
import type { DaemonAddresses } from './test/harness/src/index.ts';

// What the daemon global setup provides: `inject('daemons')` in any package's tests.
declare module 'vitest' {
  export interface ProvidedContext {
    daemons: DaemonAddresses;
    /** This run's temp dir; each test file's TMPDIR is inside it (test/harness/src/temp-root.ts). */
    tempRoot: string;
  }
}

/**
 * Every package's vitest config starts from this one. Workspace packages resolve to their
 * TypeScript sources (the `@melange2/source` export condition) so tests never need a build.
 */
const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Records every test that passed only on a retry, so the test command can name it: a retry
 * absorbs a machine hiccup, but a flake must stay visible.
 */
function flakyReporter(file: string): Reporter {
  return {
    onTestCaseResult(testCase) {
      if (!testCase.diagnostic()?.flaky) return;
      mkdirSync(join(file, '..'), { recursive: true });
      appendFileSync(file, `${testCase.module.moduleId} > ${testCase.fullName}\n`);
    },
  };
}

/** With MELANGE2_TEST_REPORT_DIR set (scripts/test), each package also writes a JSON report there. */
function reporters(): NonNullable<ViteUserConfig['test']>['reporters'] {
  const dir = process.env['MELANGE2_TEST_REPORT_DIR'];
  if (!dir) return ['default'];
  const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { name: string };
  const name = pkg.name.replace(/^@melange2\//, '');
  return [
    'default',
    ['json', { outputFile: join(dir, `${name}.json`) }],
    flakyReporter(join(dir, `${name}.flaky.txt`)),
  ];
}

export function packageConfig(extra: { daemons?: boolean; timeoutMs?: number } = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions: ['@melange2/source', 'node', 'import', 'module', 'default'] },
    ssr: { resolve: { conditions: ['@melange2/source', 'node', 'import', 'module', 'default'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: extra.timeoutMs ?? 30_000,
      hookTimeout: 180_000,
      reporters: reporters(),
      // On CI's shared machine a test that talks to real daemons may hit a stall once; it gets one
      // more try there, and scripts/test lists every test that needed it.
      retry: process.env['CI'] ? 1 : 0,
      // Every test file gets its own TMPDIR, removed after its tests: nothing is left in /tmp.
      globalSetup: [
        `${root}test/harness/src/temp-global.ts`,
        ...(extra.daemons ? [`${root}test/harness/src/global-setup.ts`] : []),
      ],
      setupFiles: [`${root}test/harness/src/temp-root.ts`],
    },
  });
}
