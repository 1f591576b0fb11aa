import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

/**
 * Every package's vitest config starts from this one. Workspace packages resolve to their
 * TypeScript sources (the `@melange2/source` export condition) so tests never need a build.
 */
export const root = fileURLToPath(new URL('.', import.meta.url));

export function packageConfig(extra: { daemons?: boolean; timeoutMs?: number } = {}): ViteUserConfig {
  return defineConfig({
    resolve: { conditions: ['@melange2/source', 'node', 'import', 'module', 'default'] },
    ssr: { resolve: { conditions: ['@melange2/source', 'node', 'import', 'module', 'default'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: extra.timeoutMs ?? 30_000,
      hookTimeout: 180_000,
      globalSetup: extra.daemons ? [`${root}test/harness/src/global-setup.ts`] : [],
    },
  });
}
