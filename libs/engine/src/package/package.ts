import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  Keyring,
  type PackageInfo,
  packApk,
  packageInfo,
  publicPemOf,
  publishPackages,
  type ScriptName,
  type SigningKey,
} from '@melange2/apk';
import type { BuildPlan } from '../compile/plan.js';
import {
  type Dependencies,
  dumpConfig,
  type PackageOptions,
  type ParsedConfig,
  type Scriptlets,
} from '@melange2/melange';
import { analyzePackage, type ScaResult } from '../sca/sca.js';
import { packageSbom, sbomPath } from './sbom.js';

/** `PACKAGE_METADATA`: a config field cannot become package metadata; `PACKAGE_WRITE`: writing the .apk failed. */
export type PackageErrorCode = 'PACKAGE_METADATA' | 'PACKAGE_WRITE';

/** A packaging failure, naming the package (and the arch, when packaging for one) and what went wrong. */
export class PackageError extends Error {
  override readonly name = 'PackageError';
  readonly arch: string | undefined;
  constructor(
    readonly code: PackageErrorCode,
    readonly pkg: string,
    message: string,
    options: { readonly cause?: unknown; readonly arch?: string } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.arch = options.arch;
  }
}

export interface PackagedApk {
  readonly name: string;
  /** `<out>/<arch>/<name>-<version>.apk` */
  readonly path: string;
  readonly info: PackageInfo;
  readonly checksum: string;
  readonly fileSize: number;
  /** Bytes of the package directory that went in (installed size). */
  readonly installedSize: number;
  readonly sca: ScaResult;
}

interface Meta {
  readonly description?: string;
  readonly url?: string;
  readonly commit?: string;
  readonly dependencies?: Dependencies;
  readonly options?: PackageOptions;
  readonly scriptlets?: Scriptlets;
}

function priority(v: string | undefined, pkg: string, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d+$/.test(v))
    throw new PackageError('PACKAGE_METADATA', pkg, `${pkg}: dependencies.${field} "${v}" is not an integer`);
  return Number(v);
}

function scripts(s: Scriptlets | undefined): Partial<Record<ScriptName, string>> {
  const out: Partial<Record<ScriptName, string>> = {};
  if (!s) return out;
  for (const k of [
    'pre-install',
    'post-install',
    'pre-deinstall',
    'post-deinstall',
    'pre-upgrade',
    'post-upgrade',
  ] as const) {
    const v = s[k];
    if (v) out[k] = v;
  }
  if (s.trigger?.script) out.trigger = s.trigger.script;
  return out;
}

const dedupe = (xs: readonly string[]) => [...new Set(xs)];

/**
 * `.PKGINFO` of one output package as melange writes it: the config's metadata (a subpackage's
 * own description/url/commit, else the main package's), the license expression, runtime
 * dependencies and provides followed by what SCA found.
 */
export function packageMetadata(
  parsed: ParsedConfig,
  plan: BuildPlan,
  name: string,
  sca: ScaResult,
): { info: PackageInfo; scripts: Partial<Record<ScriptName, string>> } {
  const pkg = parsed.config.package;
  const sub = parsed.config.subpackages.find((s) => s.name === name);
  const meta: Meta = sub ?? pkg;
  const deps = meta.dependencies ?? {};
  const license = (pkg.copyright ?? [])
    .map((c) => c.license)
    .filter((l): l is string => !!l)
    .join(' AND ');
  const providerPriority = priority(deps['provider-priority'], name, 'provider-priority');
  const replacesPriority = priority(deps['replaces-priority'], name, 'replaces-priority');
  const triggers = meta.scriptlets?.trigger?.paths ?? [];
  // As melange does: what the package provides itself (declared or found) is no dependency.
  const provides = dedupe([...(deps.provides ?? []), ...sca.provides]);
  const provided = new Set(provides.map((p) => p.split('=')[0]!));
  const info = packageInfo({
    name,
    version: plan.package.fullVersion,
    arch: plan.arch,
    origin: pkg.name,
    description: meta.description ?? pkg.description ?? '',
    url: meta.url ?? pkg.url ?? '',
    commit: meta.commit ?? pkg.commit ?? '',
    builddate: plan.sourceDateEpoch,
    ...(license ? { license } : {}),
    depends: dedupe([...(deps.runtime ?? []), ...sca.depends]).filter(
      (d) => d !== name && !provided.has(d.split(/[<>=~]/)[0]!),
    ),
    provides,
    replaces: [...(deps.replaces ?? [])],
    ...(providerPriority !== undefined ? { providerPriority } : {}),
    ...(replacesPriority !== undefined ? { replacesPriority } : {}),
    triggers: [...triggers],
  });
  return { info, scripts: scripts(meta.scriptlets) };
}

export interface PackageOptionsIn {
  readonly parsed: ParsedConfig;
  readonly plan: BuildPlan;
  /** The exported `melange-out/` directory (one directory per package). */
  readonly melangeOut: string;
  /** `packages/`: APKs go to `<outDir>/<arch>/`. */
  readonly outDir: string;
  readonly signingKey: SigningKey;
}

/** The .apk path of a package in an output repository. */
function apkPath(outDir: string, arch: string, name: string, fullVersion: string): string {
  return join(outDir, arch, `${name}-${fullVersion}.apk`);
}

/**
 * Packages every output directory of a build as a signed .apk (root-owned, SOURCE_DATE_EPOCH
 * mtimes), written atomically into `<out>/<arch>/`.
 */
export async function packageOutputs(o: PackageOptionsIn): Promise<PackagedApk[]> {
  const out: PackagedApk[] = [];
  // The config as built, in every package's control section (melange's `.melange.yaml`).
  const controlFiles = { '.melange.yaml': dumpConfig(o.parsed.config) };
  for (const name of o.plan.packages) {
    const dir = join(o.melangeOut, name);
    const sub = o.parsed.config.subpackages.find((s) => s.name === name);
    const options = (sub ?? o.parsed.config.package).options;
    try {
      const sca = existsSync(dir)
        ? await analyzePackage(dir, {
            version: o.plan.package.fullVersion,
            ...(options ? { options } : {}),
            relatives: o.plan.packages.filter((p) => p !== name).map((p) => join(o.melangeOut, p)),
          })
        : { provides: [], depends: [], warnings: [] };
      const { info, scripts: sc } = packageMetadata(o.parsed, o.plan, name, sca);
      // Every package carries its SBOM, as melange's do (after SCA: it is no input to it).
      const sbom = join(dir, sbomPath(name, o.plan.package.fullVersion));
      await mkdir(dirname(sbom), { recursive: true });
      await writeFile(sbom, `${JSON.stringify(packageSbom(o.parsed, o.plan, name), null, 2)}\n`);
      const r = await packApk({
        dir,
        info,
        scripts: sc,
        controlFiles,
        signingKey: o.signingKey,
        sourceDateEpoch: o.plan.sourceDateEpoch,
        output: apkPath(o.outDir, o.plan.arch, name, o.plan.package.fullVersion),
      });
      out.push({
        name,
        path: r.path,
        info: r.info,
        checksum: r.checksum,
        fileSize: r.fileSize,
        installedSize: r.info.size,
        sca,
      });
    } catch (e) {
      if (e instanceof PackageError) throw e;
      throw new PackageError(
        'PACKAGE_WRITE',
        name,
        `packaging ${name} (${o.plan.arch}): ${(e as Error).message}`,
        {
          cause: e,
          arch: o.plan.arch,
        },
      );
    }
  }
  return out;
}

/**
 * Adds packages to `<out>/<arch>/APKINDEX.tar.gz` with libs/apk's publisher: the current index
 * (verified with our key) gets only these entries replaced or added, re-signed and written
 * atomically, under the repository's lock so concurrent publishers lose nothing.
 */
export async function updateRepositoryIndex(
  outDir: string,
  arch: string,
  apks: readonly string[],
  signingKey: SigningKey,
): Promise<string> {
  const keyring = new Keyring().add(signingKey.publicName, publicPemOf(signingKey));
  await publishPackages({ repoDir: outDir, arch, apks, signingKey, keyring });
  return join(outDir, arch, 'APKINDEX.tar.gz');
}
