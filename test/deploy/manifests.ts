/**
 * Rendered Kubernetes manifests (`kubectl kustomize` output) as typed objects: the fields the
 * deploy policy reads, checked with zod; everything else passes through untouched.
 */
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';

const Resources = z.looseObject({ requests: z.record(z.string(), z.unknown()).optional() });

const Container = z.looseObject({
  name: z.string(),
  resources: Resources.optional(),
  securityContext: z.looseObject({ privileged: z.boolean().optional() }).optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).optional(),
  env: z
    .array(
      z.looseObject({
        name: z.string(),
        valueFrom: z.looseObject({ secretKeyRef: z.looseObject({ name: z.string() }).optional() }).optional(),
      }),
    )
    .optional(),
  envFrom: z.array(z.looseObject({ secretRef: z.looseObject({ name: z.string() }).optional() })).optional(),
});
export type Container = z.infer<typeof Container>;

const Volume = z.looseObject({
  name: z.string(),
  secret: z.looseObject({ secretName: z.string() }).optional(),
  projected: z
    .looseObject({
      sources: z.array(z.looseObject({ secret: z.looseObject({ name: z.string() }).optional() })),
    })
    .optional(),
});

const PodSpec = z.looseObject({
  containers: z.array(Container),
  initContainers: z.array(Container).optional(),
  volumes: z.array(Volume).optional(),
});
export type PodSpec = z.infer<typeof PodSpec>;

const Meta = z.looseObject({ name: z.string(), namespace: z.string().optional() });
const PodTemplate = z.looseObject({ spec: PodSpec });

/** The kinds the policy looks inside; any other kind is kept as `other`. */
const Known = z.discriminatedUnion('kind', [
  z.looseObject({ kind: z.literal('Pod'), metadata: Meta, spec: PodSpec }),
  z.looseObject({
    kind: z.literal('Deployment'),
    metadata: Meta,
    spec: z.looseObject({ template: PodTemplate }),
  }),
  z.looseObject({
    kind: z.literal('DaemonSet'),
    metadata: Meta,
    spec: z.looseObject({ template: PodTemplate }),
  }),
  z.looseObject({ kind: z.literal('Job'), metadata: Meta, spec: z.looseObject({ template: PodTemplate }) }),
  z.looseObject({
    kind: z.literal('StatefulSet'),
    metadata: Meta,
    spec: z.looseObject({ serviceName: z.string().optional(), template: PodTemplate }),
  }),
  z.looseObject({
    kind: z.literal('CronJob'),
    metadata: Meta,
    spec: z.looseObject({ jobTemplate: z.looseObject({ spec: z.looseObject({ template: PodTemplate }) }) }),
  }),
  z.looseObject({
    kind: z.literal('Service'),
    metadata: Meta,
    spec: z.looseObject({ clusterIP: z.string().optional() }),
  }),
]);
type Known = z.infer<typeof Known>;

export type Manifest = Known | { kind: 'other'; apiKind: string; name: string; raw: Record<string, unknown> };

const Any = z.looseObject({ kind: z.string(), metadata: Meta });
const KNOWN_KINDS = new Set(['Pod', 'Deployment', 'DaemonSet', 'Job', 'StatefulSet', 'CronJob', 'Service']);

export class ManifestError extends Error {
  readonly code = 'deploy-manifest';
  constructor(
    message: string,
    readonly context: { document: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Every document of a multi-document YAML stream; a malformed one is an error, not skipped. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new ManifestError(
        `document ${i}: ${doc.errors[0]?.message}`,
        { document: i },
        { cause: doc.errors[0] },
      );
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const any = Any.safeParse(value);
    if (!any.success)
      throw new ManifestError(
        `document ${i}: not a Kubernetes object`,
        { document: i },
        { cause: any.error },
      );
    if (!KNOWN_KINDS.has(any.data.kind)) {
      out.push({ kind: 'other', apiKind: any.data.kind, name: any.data.metadata.name, raw: any.data });
      return;
    }
    const known = Known.safeParse(value);
    if (!known.success)
      throw new ManifestError(
        `document ${i} (${any.data.kind}/${any.data.metadata.name}): ${known.error.message}`,
        {
          document: i,
        },
      );
    out.push(known.data);
  });
  return out;
}

/** The pod spec a workload runs, or undefined for a kind that runs no pods. */
export function podSpecOf(m: Manifest): PodSpec | undefined {
  switch (m.kind) {
    case 'Pod':
      return m.spec;
    case 'Deployment':
    case 'DaemonSet':
    case 'Job':
    case 'StatefulSet':
      return m.spec.template.spec;
    case 'CronJob':
      return m.spec.jobTemplate.spec.template.spec;
    default:
      return undefined;
  }
}

export function resourceName(m: Manifest): string {
  return m.kind === 'other' ? `${m.apiKind}/${m.name}` : `${m.kind}/${m.metadata.name}`;
}

export function workloadName(m: Manifest): string {
  return m.kind === 'other' ? m.name : m.metadata.name;
}
