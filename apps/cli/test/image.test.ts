import { describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

// Building the images takes minutes: test/smoke/images.test.ts builds and runs them. Here, the
// command line is checked before anything is staged or a daemon is asked.
describe('melange2-orch image', () => {
  it('refuses an unknown image, and the daemons image for another arch than this machine', async () => {
    const unknown = await runCli([
      'image',
      'build',
      '--image',
      'coordinator,web',
      '--buildkit-addr',
      'unix:///nope',
    ]);
    expect(unknown.err).toContain('--image: unknown image "web" (expected coordinator or agent or daemons)');
    expect(unknown.code).toBe(2);
    const other = process.arch === 'x64' ? 'aarch64' : 'x86_64';
    const daemons = await runCli([
      'image',
      'build',
      '--image',
      'daemons',
      '--arch',
      other,
      '--buildkit-addr',
      'unix:///nope',
    ]);
    expect(daemons.err).toMatch(/--image daemons: it holds this machine's own tools, so only for \S+ \(not /);
    expect(daemons.code).toBe(2);
  });

  it('stage needs exactly one arch and a directory', async () => {
    expect((await runCli(['image', 'stage', '--arch', 'x86_64,aarch64', '-o', 'x'])).err).toContain(
      '--arch: give exactly one architecture',
    );
    const noOut = await runCli(['image', 'stage', '--arch', 'x86_64']);
    expect(noOut.err).toContain('--output is required');
    expect(noOut.code).toBe(2);
  });
});
