import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llb, marshal, SolveError } from '@melange2/buildkit';
import { client, nonce, tempDir } from './helpers.js';

// The daemons use host networking, so they can fetch from a server on 127.0.0.1.
describe('http source (real buildkitd)', () => {
  const body = Buffer.from(`payload ${nonce}\n`);
  const checksum = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  let server: Server;
  let base = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === `/f-${nonce}.txt`) res.end(body);
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads a file with a checksum, name and mode', async () => {
    const c = await client('x86_64');
    const out = await tempDir('http');
    const st = llb.http(`${base}/f-${nonce}.txt`, { checksum, filename: 'got.txt', perm: 0o640 });
    await c.solve(marshal(st), { exports: [{ type: 'local', dest: out }] });
    expect(await readFile(join(out, 'got.txt'))).toEqual(body);
    expect((await stat(join(out, 'got.txt'))).mode & 0o777).toBe(0o640);
  });

  it('fails with a clear error when the checksum does not match', async () => {
    const c = await client('x86_64');
    const st = llb.http(`${base}/f-${nonce}.txt`, { checksum: `sha256:${'0'.repeat(64)}`, filename: 'x' });
    const err = await c.solve(marshal(st)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SolveError);
    expect((err as Error).message).toMatch(/digest|checksum/i);
  });
});
