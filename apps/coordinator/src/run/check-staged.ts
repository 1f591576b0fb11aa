import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApkError, readApkHead, resignApk, type SigningKey } from '@melange2/apk';
import {
  type BuildOutcome,
  fileDigest,
  ForgedReportError,
  type Staging,
  stagingKey,
} from '@melange2/protocol';
import type { RunBuild } from './plan-run.js';

type StagedApks = Extract<BuildOutcome, { kind: 'succeeded' }>['apks'];

/** Packages checked against the dispatched job and signed with the repository key, in a temp dir. */
export interface SignedPackages {
  readonly paths: readonly string[];
  release(): Promise<void>;
}

/**
 * Fetches what a report says it staged for attempt `attempt` of `b`, checks each file against
 * the report and the job, and signs it with the repository key. Refused (a `ForgedReportError`,
 * nothing signed): a key outside this attempt's staging prefix, a file missing or unreadable,
 * bytes whose sha256 or size differ from the report, a `.PKGINFO` whose name is not among the
 * config's packages, or whose version, arch or origin is not the job's, a data member that does
 * not match its `datahash`.
 */
export async function checkAndSign(
  o: { readonly staging: Staging; readonly signingKey: SigningKey },
  b: RunBuild,
  job: { readonly runId: string; readonly attempt: number },
  apks: StagedApks,
): Promise<SignedPackages> {
  // A build that made no package (and every fake agent's) has nothing to sign: no temp dir.
  if (apks.length === 0) return { paths: [], release: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'm2-sign-'));
  const release = () => rm(dir, { recursive: true, force: true });
  const names = new Set<string>();
  try {
    const paths: string[] = [];
    for (const a of apks) {
      const where = `${b.id} attempt ${job.attempt}: ${a.filename}`;
      if (a.key !== stagingKey({ ...job, id: b.id, arch: b.arch }, a.filename))
        throw new ForgedReportError(
          'staged-mismatch',
          `${where}: staged as ${a.key}, outside its build's staging`,
        );
      const staged = await o.staging.fetch(a.key).catch((e: unknown) => {
        throw new ForgedReportError('staged-unreadable', `${where}: ${(e as Error).message}`);
      });
      try {
        const got = await fileDigest(staged.path);
        if (got.sha256 !== a.sha256 || got.size !== a.size)
          throw new ForgedReportError(
            'staged-mismatch',
            `${where}: staged bytes (sha256 ${got.sha256}, ${got.size} bytes) differ from the report ` +
              `(sha256 ${a.sha256}, ${a.size} bytes)`,
          );
        checkInfo(b, where, a.filename, (await headOf(staged.path, where)).info, names);
        const out = join(dir, a.filename);
        await resignApk(staged.path, out, o.signingKey).catch((e: unknown) => {
          if (e instanceof ApkError)
            throw new ForgedReportError('package-mismatch', `${where}: ${e.message}`);
          throw e;
        });
        paths.push(out);
      } finally {
        await staged.release();
      }
    }
    return { paths, release };
  } catch (e) {
    await release();
    throw e;
  }
}

async function headOf(path: string, where: string) {
  try {
    return await readApkHead(path);
  } catch (e) {
    if (e instanceof ApkError) throw new ForgedReportError('staged-unreadable', `${where}: ${e.message}`);
    throw e;
  }
}

/** The `.PKGINFO` of a staged package against the job: a package of this config, version and arch. */
function checkInfo(
  b: RunBuild,
  where: string,
  filename: string,
  info: { name: string; version: string; arch: string; origin?: string | undefined },
  seen: Set<string>,
): void {
  const wrong = (what: string) => {
    throw new ForgedReportError('package-mismatch', `${where}: ${what}`);
  };
  if (!b.packages.includes(info.name))
    wrong(`package ${info.name} is not one of ${b.name}'s (${b.packages.join(', ')})`);
  if (info.origin !== b.name) wrong(`origin ${info.origin ?? '(none)'}, not ${b.name}`);
  if (info.version !== b.version) wrong(`version ${info.version}, not ${b.version}`);
  if (info.arch !== b.arch) wrong(`arch ${info.arch}, not ${b.arch}`);
  if (filename !== `${info.name}-${info.version}.apk`) wrong(`holds ${info.name}-${info.version}`);
  if (seen.has(info.name)) wrong(`${info.name} staged twice`);
  seen.add(info.name);
}
