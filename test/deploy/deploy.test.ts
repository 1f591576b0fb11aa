import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_NAMESPACE, natsNames } from '@melange2/protocol';
import { describe, expect, it } from 'vitest';
import { type Manifest, ManifestError, parseManifests, podSpecOf } from './manifests.ts';
import { checkPolicy, type Policy, type Rule } from './policy.ts';
import { KUBECTL, KUBERNETES_VALIDATE, kustomize, overlays, validate } from './render.ts';

/** The oldest and newest Kubernetes the manifests support (README: deploy/k8s/README.md). */
const KUBE_VERSIONS = ['1.30.0', '1.37.0'];

/** Who may see which Secret: the signing key only the coordinator; each NATS role its own. */
const POLICY: Policy = {
  secretUsers: {
    'melange2-signing-key': ['melange2-coordinator/coordinator'],
    'melange2-coordinator-nats': ['melange2-coordinator/coordinator'],
    'nats-server-auth': ['nats/nats'],
    'melange2-agent-nats-x86-64': ['melange2-agent-x86-64/agent'],
    'melange2-agent-nats-aarch64': ['melange2-agent-aarch64/agent'],
  },
  privileged: ['buildkitd'],
};

const ARCHES = {
  'x86_64-only': ['x86_64'],
  mixed: ['x86_64', 'aarch64'],
  'mixed-rootless': ['x86_64', 'aarch64'],
};
const KUBE_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64' };

const rendered = new Map<string, string>();
function render(overlay: string): string {
  if (!KUBECTL) throw new Error('kubectl is not on PATH');
  let out = rendered.get(overlay);
  if (out === undefined) {
    out = kustomize(KUBECTL, overlay);
    rendered.set(overlay, out);
  }
  return out;
}

function find<K extends Manifest['kind']>(
  ms: Manifest[],
  kind: K,
  name: string,
): Extract<Manifest, { kind: K }> {
  const m = ms.find(
    (x): x is Extract<Manifest, { kind: K }> =>
      x.kind === kind && 'metadata' in x && x.metadata.name === name,
  );
  if (!m) throw new Error(`${kind}/${name} is not in the render`);
  return m;
}

function rules(ms: Manifest[]): Rule[] {
  return checkPolicy(ms, POLICY).map((v) => v.rule);
}

it('a render that is not YAML, or holds something other than Kubernetes objects, is an error', () => {
  expect(() => parseManifests('a: [1, 2')).toThrow(ManifestError);
  expect(() => parseManifests('just: a map\n')).toThrow(/document 0: not a Kubernetes object/);
  expect(() => parseManifests('kind: Service\nmetadata: { name: s }\nspec: 3\n')).toThrow(/Service\/s/);
});

it('the overlays are x86_64-only, mixed and mixed-rootless', () => {
  expect(overlays()).toEqual(Object.keys(ARCHES).sort());
});

if (!KUBECTL) console.warn('deploy/k8s render tests skipped: kubectl is not on PATH');
if (!KUBERNETES_VALIDATE) console.warn('kubernetes-validate tests skipped: run scripts/setup to install it');

describe.skipIf(!KUBECTL)('deploy/k8s overlays (kubectl kustomize)', () => {
  describe.each(overlays())('%s', (overlay) => {
    it('renders, and passes the deploy policy', () => {
      const ms = parseManifests(render(overlay));
      expect(ms.length).toBeGreaterThan(10);
      expect(checkPolicy(ms, POLICY)).toEqual([]);
    });

    it("places one agent StatefulSet per arch on its nodes, scaled on its consumer's lag", () => {
      const ms = parseManifests(render(overlay));
      const arches = ARCHES[overlay as keyof typeof ARCHES];
      const agents = ms.filter(
        (m) => m.kind === 'StatefulSet' && m.metadata.name.startsWith('melange2-agent-'),
      );
      expect(agents.length).toBe(arches.length);
      const names = natsNames(DEFAULT_NAMESPACE);
      for (const arch of arches) {
        const suffix = arch.replace('_', '-');
        const sts = find(ms, 'StatefulSet', `melange2-agent-${suffix}`);
        const spec = sts.spec.template.spec;
        expect(spec['nodeSelector']).toEqual({ 'kubernetes.io/arch': KUBE_ARCH[arch] });
        const agent = spec.containers.find((c) => c.name === 'agent');
        expect(agent?.['args']).toContain(`--arch=${arch}`);
        const tolerations = JSON.stringify(spec['tolerations'] ?? []);
        expect(tolerations.includes('arm64')).toBe(arch === 'aarch64');
        const so = ms.find(
          (m) => m.kind === 'other' && m.apiKind === 'ScaledObject' && m.name === `melange2-agent-${suffix}`,
        );
        expect(so?.kind === 'other' && so.raw).toMatchObject({
          spec: {
            scaleTargetRef: { kind: 'StatefulSet', name: `melange2-agent-${suffix}` },
            triggers: [
              { type: 'nats-jetstream', metadata: { stream: names.stream, consumer: `agents-${arch}` } },
            ],
          },
        });
      }
      const coordinator = find(ms, 'CronJob', 'melange2-coordinator');
      const args = podSpecOf(coordinator)?.containers[0]?.['args'];
      expect(args).toContain(`--arch=${arches.join(',')}`);
    });
  });

  it.skipIf(!KUBERNETES_VALIDATE).each(KUBE_VERSIONS)(
    'every overlay passes kubernetes-validate --strict for Kubernetes %s',
    (version) => {
      const renders = Object.fromEntries(overlays().map((o) => [o, render(o)]));
      const results = validate(
        KUBERNETES_VALIDATE ?? '',
        renders,
        version,
        mkdtempSync(join(tmpdir(), 'kv-')),
      );
      for (const o of overlays()) {
        const v = results[o];
        expect(v?.problems, o).toEqual([]);
        expect(v?.ok, o).toBe(true);
        // Only KEDA's ScaledObject has no schema there; test below checks it against names.ts.
        expect(v?.unknownKinds, o).toEqual(['ScaledObject']);
      }
    },
  );

  describe('the policy fires on each kind of mistake (mixed overlay, altered)', () => {
    const fresh = () => parseManifests(render('mixed'));

    it('the repository signing key mounted in an agent', () => {
      const ms = fresh();
      const spec = find(ms, 'StatefulSet', 'melange2-agent-aarch64').spec.template.spec;
      spec.volumes?.push({ name: 'key', secret: { secretName: 'melange2-signing-key' } });
      spec.containers[0]?.volumeMounts?.push({ name: 'key', mountPath: '/keys' });
      expect(rules(ms)).toEqual(['secret-not-needed']);
    });

    it('a Secret seen through env or a projected volume by a container that does not need it', () => {
      const ms = fresh();
      const spec = find(ms, 'Deployment', 'otel-collector').spec.template.spec;
      const otel = spec.containers[0];
      if (otel)
        otel.env = [{ name: 'X', valueFrom: { secretKeyRef: { name: 'melange2-coordinator-nats' } } }];
      const nats = find(ms, 'StatefulSet', 'nats').spec.template.spec;
      nats.volumes?.push({
        name: 'p',
        projected: { sources: [{ secret: { name: 'melange2-signing-key' } }] },
      });
      nats.containers[0]?.volumeMounts?.push({ name: 'p', mountPath: '/p' });
      expect(rules(ms)).toEqual(['secret-not-needed', 'secret-not-needed']);
    });

    it('a container without resource requests', () => {
      const ms = fresh();
      const init = find(ms, 'CronJob', 'melange2-coordinator').spec.jobTemplate.spec.template.spec
        .initContainers?.[0];
      if (init) init.resources = { limits: { memory: '1Gi' } };
      expect(rules(ms)).toEqual(['missing-requests']);
    });

    it('a StatefulSet whose serviceName has no headless Service', () => {
      const ms = fresh();
      const svc = find(ms, 'Service', 'nats');
      delete svc.spec.clusterIP;
      find(ms, 'StatefulSet', 'melange2-agent-x86-64').spec.serviceName = 'melange2-agent-amd64';
      expect(rules(ms)).toEqual(['statefulset-service', 'statefulset-service']);
    });

    it('a privileged container other than buildkitd', () => {
      const ms = fresh();
      const agent = find(ms, 'StatefulSet', 'melange2-agent-x86-64').spec.template.spec.containers[0];
      if (agent) agent.securityContext = { privileged: true };
      expect(rules(ms)).toEqual(['privileged']);
    });
  });

  it.skipIf(!KUBERNETES_VALIDATE)('kubernetes-validate rejects a typo’d field (the check is strict)', () => {
    const typo = render('x86_64-only').replace('serviceName: nats', 'servicName: nats');
    const v = validate(
      KUBERNETES_VALIDATE ?? '',
      { typo },
      '1.37.0',
      mkdtempSync(join(tmpdir(), 'kv-')),
    ).typo;
    expect(v?.ok).toBe(false);
    expect(v?.problems.join('\n')).toContain("'servicName' was unexpected");
  });
});
