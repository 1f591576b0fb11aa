import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llb, marshal } from '@melange2/buildkit';
import { client, nonce, tempDir } from './helpers.js';

const GIT_DAEMON = '/usr/lib/git-core/git-daemon';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

// buildkitd fetches git sources itself (with the host's git, over host networking), so a
// `git daemon` on 127.0.0.1 serves a repository made here.
describe.skipIf(!existsSync(GIT_DAEMON))('git source (real buildkitd)', () => {
  let daemon: ChildProcess | undefined;
  let url = '';

  beforeAll(async () => {
    const base = await tempDir('git');
    const repo = join(base, 'repo.git');
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repo,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@t',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@t',
        },
        stdio: 'pipe',
      });
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    await writeFile(join(repo, 'hello.txt'), `hello ${nonce}\n`);
    git('add', 'hello.txt');
    git('commit', '-q', '-m', 'first');
    git('tag', 'v1');
    const port = await freePort();
    daemon = spawn(
      GIT_DAEMON,
      ['--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${port}`, '--reuseaddr', base],
      {
        stdio: 'ignore',
      },
    );
    url = `git://127.0.0.1:${port}/repo.git`;
    // Wait until it accepts connections.
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = createConnection({ host: '127.0.0.1', port });
        s.on('connect', () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    daemon?.kill('SIGTERM');
  });

  it('checks out a tag', async () => {
    const c = await client('x86_64');
    const out = await tempDir('git-out');
    await c.solve(marshal(llb.git(url, 'v1')), { exports: [{ type: 'local', dest: out }] });
    expect(await readFile(join(out, 'hello.txt'), 'utf8')).toBe(`hello ${nonce}\n`);
  });
});
