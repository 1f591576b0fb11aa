import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * scripts/fetch-sources against a Debian-shaped mirror on 127.0.0.1: an InRelease signed with a
 * throwaway gpg key (passed as the keyring), a Sources.xz, and pool files, one of them not what
 * the index says.
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'fetch-sources');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let dir: string;
let server: Server;
let mirrorUrl: string;
const requests: string[] = [];
const hello = randomBytes(4096);
const env = () => ({
  ...process.env,
  MELANGE2_DEBIAN_MIRROR: mirrorUrl,
  MELANGE2_DEBIAN_KEYRING: join(dir, 'keyring.gpg'),
});

function stanza(name: string, version: string, file: string, body: Buffer): string {
  return [
    `Package: ${name}`,
    `Version: ${version}`,
    `Directory: pool/main/${name[0]}/${name}`,
    'Checksums-Sha256:',
    ` ${sha256(body)} ${body.length} ${file}`,
    ` ${sha256('debian')} 6 ${name}_${version}.debian.tar.xz`,
    '',
  ].join('\n');
}

async function fetchSources(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('bash', [script, '--out', join(dir, 'cache'), ...args], { env: env() });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'm2-fetchsrc-'));
  const mirror = join(dir, 'mirror');
  const gnupg = join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (...a: string[]) => run('gpg', ['--batch', '--homedir', gnupg, '--passphrase', '', ...a]);
  await gpg('--quick-gen-key', 'fetch-sources test <test@invalid>', 'ed25519', 'sign', 'never');
  await gpg('--output', join(dir, 'keyring.gpg'), '--export');

  const bad = Buffer.from('not what the index says');
  const pool = (name: string, file: string, body: Buffer) => {
    mkdirSync(join(mirror, 'pool/main', name[0]!, name), { recursive: true });
    writeFileSync(join(mirror, 'pool/main', name[0]!, name, file), body);
  };
  pool('hello', 'hello_1.0.orig.tar.gz', hello);
  pool('bad', 'bad_2.0.orig.tar.xz', bad);
  const sources = [
    stanza('hello', '1.0.dfsg-1', 'hello_1.0.orig.tar.gz', hello),
    stanza('bad', '2.0-3', 'bad_2.0.orig.tar.xz', Buffer.from('the real tarball')),
  ].join('\n');
  const dists = join(mirror, 'dists/bookworm');
  mkdirSync(join(dists, 'main/source'), { recursive: true });
  writeFileSync(join(dists, 'main/source/Sources'), sources);
  await run('xz', ['-k', join(dists, 'main/source/Sources')]);
  const xz = readFileSync(join(dists, 'main/source/Sources.xz'));
  writeFileSync(
    join(dists, 'Release'),
    `Suite: bookworm\nSHA256:\n ${sha256(xz)} ${xz.length} main/source/Sources.xz\n`,
  );
  await gpg('--output', join(dists, 'InRelease'), '--clearsign', join(dists, 'Release'));

  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = normalize(join(mirror, decodeURIComponent(req.url ?? '/')));
    try {
      if (!path.startsWith(mirror)) throw new Error('outside');
      res.end(readFileSync(path));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mirrorUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await run('gpgconf', ['--homedir', join(dir, 'gnupg'), '--kill', 'gpg-agent']).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('scripts/fetch-sources', () => {
  it('stores an upstream tarball as sha256:<sum> and prints the fetch step’s uri and checksum', async () => {
    const list = join(dir, 'list');
    writeFileSync(list, '# corpus\nhello 1.0\n');
    const r = await fetchSources(list);
    expect(r.code, r.stderr).toBe(0);
    const sum = sha256(hello);
    expect(r.stdout.trim()).toBe(
      `hello 1.0.dfsg-1 hello_1.0.orig.tar.gz ${sum} ${mirrorUrl}/pool/main/h/hello/hello_1.0.orig.tar.gz`,
    );
    expect(readFileSync(join(dir, 'cache', `sha256:${sum}`)).equals(hello)).toBe(true);
    expect(readFileSync(join(dir, 'cache', 'by-name', 'hello_1.0.orig.tar.gz')).equals(hello)).toBe(true);

    // Again: nothing is downloaded, the index is not fetched again.
    requests.length = 0;
    const again = await fetchSources('hello');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(r.stdout);
    expect(requests).toEqual([]);
  });

  it('refuses a download whose sha256 is not the index’s, and keeps nothing of it', async () => {
    const r = await fetchSources('bad=2.0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /bad: checksum mismatch for .*bad_2\.0\.orig\.tar\.xz: got [0-9a-f]{64}, the index says/,
    );
    expect(readFileSync(join(dir, 'cache', 'sources.tsv'), 'utf8')).not.toContain('bad_2.0');
  });

  it('names a source that is not in the index, and the versions a known one has', async () => {
    const r = await fetchSources('nosuch', 'hello=9.9');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nosuch: no such source package in bookworm main');
    expect(r.stderr).toContain("hello 9.9: not in bookworm's source index, which has hello 1.0.dfsg-1");
  });

  it('refuses an index whose InRelease signature does not verify', async () => {
    const inRelease = join(dir, 'mirror/dists/bookworm/InRelease');
    const good = readFileSync(inRelease, 'utf8');
    writeFileSync(inRelease, good.replace('Suite: bookworm', 'Suite: bookwurm'));
    try {
      const r = await fetchSources('--refresh', 'hello');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('InRelease: bad signature');
    } finally {
      writeFileSync(inRelease, good);
    }
  });
});
