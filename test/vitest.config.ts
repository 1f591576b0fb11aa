import { packageConfig } from '../vitest.shared.ts';

const config = packageConfig({ daemons: true, timeoutMs: 120_000 });
export default {
  ...config,
  test: { ...config.test, include: ['**/*.test.ts'], exclude: ['**/node_modules/**'] },
};
