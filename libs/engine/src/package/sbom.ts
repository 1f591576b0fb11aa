/**
 * The SPDX 2.3 SBOM melange puts into every package, at
 * `/var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json`: a document describing the package
 * (with its `pkg:apk/…` purl and the config's license), the config it was built from
 * (DESCRIBED_BY) and each upstream source a `fetch` or `git-checkout` step took (GENERATED_FROM,
 * with its download location and checksum or commit). Deterministic: created at
 * SOURCE_DATE_EPOCH, namespace derived from the package's identity, so rebuilds stay identical.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ParsedConfig } from '@melange2/melange';
import type { BuildPlan, PlanSource } from '../compile/plan.js';

/** Where melange puts SBOMs in a package. */
const SBOM_DIR = 'var/lib/db/sbom';
/** The distribution namespace of purls and suppliers when none is given (melange's default). */
const DEFAULT_NAMESPACE = 'unknown';

interface SpdxChecksum {
  readonly algorithm: 'SHA256' | 'SHA512';
  readonly checksumValue: string;
}

interface SpdxPackage {
  readonly SPDXID: string;
  readonly name: string;
  readonly versionInfo?: string;
  readonly filesAnalyzed: false;
  readonly licenseConcluded: string;
  readonly licenseDeclared: string;
  readonly downloadLocation: string;
  readonly originator?: string;
  readonly supplier?: string;
  readonly copyrightText?: string;
  readonly primaryPackagePurpose: 'APPLICATION' | 'INSTALL' | 'SOURCE';
  readonly checksums?: readonly SpdxChecksum[];
  readonly externalRefs?: readonly {
    readonly referenceCategory: 'PACKAGE-MANAGER';
    readonly referenceType: 'purl';
    readonly referenceLocator: string;
  }[];
}

/** The document as JSON-serialisable data. */
export interface SpdxDocument {
  readonly SPDXID: 'SPDXRef-DOCUMENT';
  readonly spdxVersion: 'SPDX-2.3';
  readonly dataLicense: 'CC0-1.0';
  readonly name: string;
  readonly documentNamespace: string;
  readonly creationInfo: {
    readonly created: string;
    readonly creators: readonly string[];
    readonly licenseListVersion: string;
  };
  readonly documentDescribes: readonly string[];
  readonly packages: readonly SpdxPackage[];
  readonly relationships: readonly {
    readonly spdxElementId: string;
    readonly relationshipType: 'DESCRIBED_BY' | 'GENERATED_FROM';
    readonly relatedSpdxElement: string;
  }[];
}

/** An SPDX identifier: `SPDXRef-` and letters, digits, `.` and `-` only. */
function spdxId(...parts: string[]): string {
  return `SPDXRef-${parts.join('-').replace(/[^A-Za-z0-9.-]+/g, '-')}`;
}

/** purl percent-encoding of one component (RFC 3986 unreserved characters stay). */
const enc = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);

/** The SBOM's file path inside package `name` (relative to the package root). */
export function sbomPath(name: string, fullVersion: string): string {
  return `${SBOM_DIR}/${name}-${fullVersion}.spdx.json`;
}

/** The config's license expression (its `copyright` licenses joined with AND), or NOASSERTION. */
function licenseOf(parsed: ParsedConfig): string {
  const l = (parsed.config.package.copyright ?? [])
    .map((c) => c.license)
    .filter((x): x is string => !!x)
    .join(' AND ');
  return l === '' ? 'NOASSERTION' : l;
}

/** One upstream source as an SPDX package: a fetched archive or a git checkout. */
function sourcePackage(s: PlanSource, i: number, plan: BuildPlan, license: string): SpdxPackage {
  const pkg = plan.package;
  const common = {
    filesAnalyzed: false as const,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: license,
    primaryPackagePurpose: 'SOURCE' as const,
  };
  const v = s.inputs;
  if (s.uses === 'fetch') {
    const name = v['purl-name'] || pkg.name;
    const version = v['purl-version'] || pkg.version;
    const uri = v['uri'] ?? '';
    const checksums: SpdxChecksum[] = [];
    if (v['expected-sha256']) checksums.push({ algorithm: 'SHA256', checksumValue: v['expected-sha256'] });
    if (v['expected-sha512']) checksums.push({ algorithm: 'SHA512', checksumValue: v['expected-sha512'] });
    return {
      SPDXID: spdxId('Package-Source', name, version, String(i)),
      name,
      versionInfo: version,
      ...common,
      downloadLocation: uri || 'NOASSERTION',
      ...(checksums.length ? { checksums } : {}),
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: `pkg:generic/${enc(name)}@${enc(version)}${uri ? `?download_url=${enc(uri)}` : ''}`,
        },
      ],
    };
  }
  const repo = (v['repository'] ?? '').replace(/\/+$/, '');
  const name = `git/${basename(repo).replace(/\.git$/, '') || pkg.name}`;
  const ref = v['tag'] || v['branch'] || '';
  const commit = v['expected-commit'] ?? '';
  const at = commit || ref;
  return {
    SPDXID: spdxId('Package-Source', repo.replace(/^[a-z]+:\/\//, ''), ref, commit, String(i)),
    name,
    versionInfo: ref || commit || 'NOASSERTION',
    ...common,
    downloadLocation: repo ? `git+${repo}${at ? `@${at}` : ''}` : 'NOASSERTION',
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:generic/${enc(name)}@${enc(ref || commit || pkg.version)}?vcs_url=${enc(`git+${repo}${commit ? `@${commit}` : ''}`)}`,
      },
    ],
  };
}

/** The SPDX document for output package `name` of a build. */
export function packageSbom(
  parsed: ParsedConfig,
  plan: BuildPlan,
  name: string,
  opts: { readonly namespace?: string; readonly toolVersion?: string } = {},
): SpdxDocument {
  const ns = opts.namespace ?? DEFAULT_NAMESPACE;
  const org = `Organization: ${ns.charAt(0).toUpperCase()}${ns.slice(1)}`;
  const full = plan.package.fullVersion;
  const license = licenseOf(parsed);
  const self = spdxId('Package-apk', name, full);
  const configHash = createHash('sha256').update(parsed.text).digest('hex').slice(0, 12);
  const configVersion = parsed.config.package.commit || configHash;
  const configFile = basename(plan.file);
  const config: SpdxPackage = {
    SPDXID: spdxId('Package-Melange', configFile, configVersion),
    name: configFile,
    versionInfo: configVersion,
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    downloadLocation: 'NOASSERTION',
    originator: org,
    supplier: org,
    primaryPackagePurpose: 'INSTALL',
  };
  const sources = plan.sources.map((s, i) => sourcePackage(s, i, plan, license));
  const id = createHash('sha256').update(`apk-${ns}-${name}-${full}-${plan.arch}`).digest('hex').slice(0, 32);
  return {
    SPDXID: 'SPDXRef-DOCUMENT',
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    name: `apk-${name}-${full}`,
    documentNamespace: `https://spdx.org/spdxdocs/melange2-orch/${id}`,
    creationInfo: {
      created: new Date(plan.sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      creators: [`Tool: melange2-orch (${opts.toolVersion ?? 'devel'})`],
      licenseListVersion: '3.22',
    },
    documentDescribes: [self],
    packages: [
      {
        SPDXID: self,
        name,
        versionInfo: full,
        filesAnalyzed: false,
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: license,
        downloadLocation: 'NOASSERTION',
        originator: org,
        supplier: org,
        copyrightText: 'NOASSERTION',
        primaryPackagePurpose: 'APPLICATION',
        externalRefs: [
          {
            referenceCategory: 'PACKAGE-MANAGER',
            referenceType: 'purl',
            referenceLocator: `pkg:apk/${enc(ns)}/${enc(name)}@${enc(full)}?arch=${enc(plan.arch)}&distro=${enc(ns)}`,
          },
        ],
      },
      config,
      ...sources,
    ],
    relationships: [
      { spdxElementId: self, relationshipType: 'DESCRIBED_BY', relatedSpdxElement: config.SPDXID },
      ...sources.map((s) => ({
        spdxElementId: self,
        relationshipType: 'GENERATED_FROM' as const,
        relatedSpdxElement: s.SPDXID,
      })),
    ],
  };
}
