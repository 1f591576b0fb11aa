import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readIndexFile } from '@melange2/apk';
import { describe, expect, inject, it } from 'vitest';

/**
 * A real C build (gcc, make, a shared library, a -dev split, test: pipelines with Wolfi's test
 * helper commands) against the toolchain scripts/bootstrap-toolchain makes from Debian bookworm.
 * The toolchain is not made by the test command (minutes, ~1 GB); without it this file skips
 * and says how to make it. MELANGE2_REAL_TOOLCHAIN names another one.
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'apps', 'cli', 'bin', 'melange2-orch.js');
const toolchain =
  process.env['MELANGE2_REAL_TOOLCHAIN'] ??
  join(process.env['MELANGE2_TOOLS_DIR'] ?? join(root, '.tools'), 'real-toolchain');
const repo = join(toolchain, 'repo');
const keyring = join(toolchain, 'keys', 'real-toolchain.rsa.pub');
const arches = (['x86_64', 'aarch64'] as const).filter(
  (a) => existsSync(join(repo, a, 'APKINDEX.tar.gz')) && existsSync(keyring),
);
const present = arches.includes('x86_64');
// One (skipped) case without a toolchain, so the file still reports its skip.
const cases = present ? arches : (['x86_64'] as const);
const config = join(root, 'testdata', 'real-toolchain', 'hello-c.yaml');

if (!present) {
  process.stderr.write(
    `real-toolchain.test.ts: skipped, no toolchain at ${toolchain} (make it with: bash scripts/bootstrap-toolchain --arch x86_64)\n`,
  );
}

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout + x.stderr };
  }
}

// x86_64 whenever the toolchain is there; aarch64 (under qemu, minutes) when its repository is too.
describe.skipIf(!present).each(cases)('the real toolchain (scripts/bootstrap-toolchain, %s)', (arch) => {
  const addr = inject('daemons').buildkit[arch];

  it('builds a C library and program with gcc and make, splits -dev, and its tests pass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-realtc-'));
    try {
      const key = join(dir, 'melange.rsa');
      expect((await cli('keygen', '--name', 'melange', '--key-size', '2048', '--dir', dir)).code).toBe(0);
      const out = join(dir, 'packages');
      const common = ['--arch', arch, '--buildkit-addr', addr, '--out-dir', out];
      const envFlags = ['--repository-append', repo, '--keyring-append', keyring];
      const b = await cli('build', config, ...common, ...envFlags, '--signing-key', key);
      expect(b.code, b.out).toBe(0);

      const idx = readIndexFile(join(out, arch, 'APKINDEX.tar.gz')).index;
      const byName = new Map(idx.entries.map((e) => [e.name, e]));
      const main = byName.get('hello-c');
      const dev = byName.get('hello-c-dev');
      expect(main, 'hello-c in the index').toBeDefined();
      expect(dev, 'hello-c-dev in the index').toBeDefined();
      // SCA on a real ELF: the library's SONAME, the program's command, glibc's libc.
      expect(main!.provides).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^so:libhello\.so\.1=/),
          expect.stringMatching(/^cmd:hello=/),
        ]),
      );
      expect(main!.depends).toContain('so:libc.so.6');
      expect(existsSync(join(out, arch, 'hello-c-dev-1.0.0-r0.apk'))).toBe(true);

      const t = await cli('test', config, ...common, ...envFlags, '--signing-key', key);
      expect(t.code, t.out).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);
});
