/**
 * The deploy policy: rules a rendered deploy/k8s overlay must pass beyond schema validity.
 * Pure: manifests in, violations out.
 */
import {
  type Container,
  type Manifest,
  type PodSpec,
  podSpecOf,
  resourceName,
  workloadName,
} from './manifests.ts';

export type Rule =
  /** A Secret reaches a container that is not on its list of users. */
  | 'secret-not-needed'
  /** A container (init containers too) without cpu and memory requests. */
  | 'missing-requests'
  /** A StatefulSet whose serviceName is not a headless Service of the same render. */
  | 'statefulset-service'
  /** A privileged container not on the list of those that need it. */
  | 'privileged';

export interface Violation {
  readonly rule: Rule;
  readonly resource: string;
  readonly detail: string;
}

export interface Policy {
  /** Secret name → the `<workload>/<container>`s that may see it (as a volume or in env). */
  readonly secretUsers: Readonly<Record<string, readonly string[]>>;
  /** Container names that may run privileged (buildkitd's rootful mode). */
  readonly privileged: readonly string[];
}

function containersOf(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

/** The Secrets each container sees: through mounted volumes (plain or projected) and env. */
function secretsSeen(spec: PodSpec, c: Container): string[] {
  const byVolume = new Map<string, string[]>();
  for (const v of spec.volumes ?? []) {
    const names = [
      ...(v.secret ? [v.secret.secretName] : []),
      ...(v.projected?.sources ?? []).flatMap((s) => (s.secret ? [s.secret.name] : [])),
    ];
    if (names.length > 0) byVolume.set(v.name, names);
  }
  return [
    ...(c.volumeMounts ?? []).flatMap((m) => byVolume.get(m.name) ?? []),
    ...(c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])),
    ...(c.envFrom ?? []).flatMap((e) => (e.secretRef ? [e.secretRef.name] : [])),
  ];
}

function checkContainers(m: Manifest, spec: PodSpec, policy: Policy): Violation[] {
  const out: Violation[] = [];
  const resource = resourceName(m);
  for (const c of containersOf(spec)) {
    const who = `${workloadName(m)}/${c.name}`;
    for (const s of new Set(secretsSeen(spec, c))) {
      if (!(policy.secretUsers[s] ?? []).includes(who))
        out.push({ rule: 'secret-not-needed', resource, detail: `container ${c.name} sees Secret ${s}` });
    }
    const req = c.resources?.requests ?? {};
    const missing = ['cpu', 'memory'].filter((r) => req[r] === undefined);
    if (missing.length > 0)
      out.push({
        rule: 'missing-requests',
        resource,
        detail: `container ${c.name} requests no ${missing.join(', ')}`,
      });
    if (c.securityContext?.privileged === true && !policy.privileged.includes(c.name))
      out.push({ rule: 'privileged', resource, detail: `container ${c.name} is privileged` });
  }
  return out;
}

export function checkPolicy(manifests: readonly Manifest[], policy: Policy): Violation[] {
  const headless = new Set(
    manifests.flatMap((m) => (m.kind === 'Service' && m.spec.clusterIP === 'None' ? [m.metadata.name] : [])),
  );
  const out: Violation[] = [];
  for (const m of manifests) {
    const spec = podSpecOf(m);
    if (spec) out.push(...checkContainers(m, spec, policy));
    if (m.kind === 'StatefulSet' && !(m.spec.serviceName && headless.has(m.spec.serviceName)))
      out.push({
        rule: 'statefulset-service',
        resource: resourceName(m),
        detail: `serviceName ${m.spec.serviceName ?? '(none)'} is not a headless Service here`,
      });
  }
  return out;
}
