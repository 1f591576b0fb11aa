/**
 * The application layer of the images (`/app`): the built workspace as npm would publish each
 * package (its package.json and the `files` it lists, without type declarations and source
 * maps) and the production dependencies the lockfile pins (`npm ci --omit=dev`). The same for
 * every arch: nothing in it is native code.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, glob, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CliError, EXIT } from '../exit-codes.js';
import { normalizeDirs } from './runtime.js';

const run = promisify(execFile);

/** The `files` list of a workspace package.json, checked. */
function filesOf(ws: string, text: string): readonly string[] {
  const v: unknown = JSON.parse(text);
  const files = v && typeof v === 'object' && 'files' in v ? v.files : [];
  if (!Array.isArray(files) || !files.every((f): f is string => typeof f === 'string' && !f.includes('..')))
    throw new CliError(`${ws}/package.json: "files" is not a list of paths`, EXIT.usage);
  return files;
}

/** Build outputs an image does not run: declarations, source maps (their sources are not there), tsc state. */
const DROP = /\.(d\.ts|d\.ts\.map|js\.map|tsbuildinfo)$/;

/** The workspace directories whose packages go into the image (the test workspace does not). */
async function imageWorkspaces(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const group of ['libs', 'apps'])
    for (const name of (await readdir(join(root, group))).sort())
      if (existsSync(join(root, group, name, 'package.json'))) out.push(`${group}/${name}`);
  return out;
}

/** `files` entries as npm reads them: a glob (`dashboard/*.ts`) names what it matches, sorted. */
async function expandFiles(dir: string, files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    if (!/[*?[{]/.test(f)) {
      out.push(f);
      continue;
    }
    const matched: string[] = [];
    for await (const m of glob(f, { cwd: dir })) matched.push(m);
    out.push(...matched.sort());
  }
  return out;
}

export async function stageApp(root: string, dest: string): Promise<void> {
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) await cp(join(root, f), join(dest, f));
  // The lockfile names the test workspace too; npm ci wants its package.json, the image does not.
  await cp(join(root, 'test/package.json'), join(dest, 'test/package.json'));
  for (const ws of await imageWorkspaces(root)) {
    const files = filesOf(ws, await readFile(join(root, ws, 'package.json'), 'utf8'));
    await cp(join(root, ws, 'package.json'), join(dest, ws, 'package.json'));
    for (const f of await expandFiles(join(root, ws), files)) {
      if (!existsSync(join(root, ws, f)))
        throw new CliError(
          `${ws}/${f} is missing: build the workspace first (npx nx run-many -t build)`,
          EXIT.usage,
        );
      await cp(join(root, ws, f), join(dest, ws, f), {
        recursive: true,
        filter: (src) => !DROP.test(relative(root, src)),
      });
    }
  }
  try {
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: dest,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new CliError(
      `image: npm ci --omit=dev failed: ${err.stderr?.trim() || err.message}`,
      EXIT.environment,
      {
        cause: e,
      },
    );
  }
  await rm(join(dest, 'test'), { recursive: true, force: true });
  await rm(join(dest, 'node_modules/@melange2/test'), { force: true });
  await normalizeDirs(dest);
}
