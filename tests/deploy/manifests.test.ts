/**
 * deploy/k8s: every overlay renders with `kubectl kustomize` (the kubectl on
 * PATH: Debian's kubernetes-client 1.20 with kustomize v2, or a newer one with
 * kustomize v5), every rendered object validates offline against the
 * Kubernetes OpenAPI schema (kubernetes-models; KEDA and prometheus-operator
 * CRDs from their model packages) with unknown fields reported, and the
 * invariants hold: the objects each service needs, GPU limits only on GPU
 * services and only in the gpu overlays (gpu, gpu-webgpu; the latter with the
 * `graphics` driver capability and UAE_BACKEND=webgpu), /healthz probes, non-root and
 * locked-down containers, pinned images, role tokens and TLS from Secrets mounted as files, the
 * network policies' reachability matrix, and KEDA pointed at the stream and
 * consumer libs/bus actually creates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { natsTopology } from '../../libs/bus/index.js';
import {
  DEPLOY,
  KUBECTL,
  OVERLAYS,
  OVERLAY_FLAVOUR,
  SERVICES,
  commandAvailable,
  find,
  podTemplates,
  renderKustomize,
  renderOverlay,
  validateObject,
  type K8sObject,
  type Overlay,
} from './helpers.js';

const haveKubectl = commandAvailable(KUBECTL);
const NS = 'uae';
const GPU = 'nvidia.com/gpu';

describe.skipIf(!haveKubectl)('deploy/k8s', () => {
  const rendered = new Map<Overlay, K8sObject[]>();
  beforeAll(() => {
    for (const o of OVERLAYS) rendered.set(o, renderOverlay(o));
  });
  const objs = (o: Overlay) => rendered.get(o)!;

  it('the schema check is not vacuous: it rejects bad types, missing required fields and unknown fields, CRDs included', () => {
    const dep = structuredClone(find(objs('gpu'), 'Deployment', 'attack-optimizer'));
    expect(validateObject(dep)).toEqual([]);
    dep.spec.template.spec.containers[0].ports[0].containerPort = '50052';
    dep.spec.template.spec.containers[0].securityContext.runAsNonRot = true;
    dep.spec.replicaz = 2;
    delete dep.spec.selector;
    const problems = validateObject(dep).join('\n');
    expect(problems).toMatch(/containerPort must be integer/);
    expect(problems).toMatch(/must have required property '?selector'?/);
    expect(problems).toMatch(/unknown field \.spec\.template\.spec\.containers\[0\]\.securityContext\.runAsNonRot/);
    expect(problems).toMatch(/unknown field \.spec\.replicaz/);

    const so = structuredClone(find(objs('gpu'), 'ScaledObject', 'attack-optimizer'));
    so.spec.minReplicas = 0;
    so.spec.triggers[0].metadata = 'x';
    const soProblems = validateObject(so).join('\n');
    expect(soProblems).toMatch(/unknown field \.spec\.minReplicas/);
    expect(soProblems).toMatch(/metadata must be object/);

    const sm = structuredClone(find(objs('gpu'), 'ServiceMonitor', 'uae'));
    sm.spec.endpoints[0].intervall = '15s';
    expect(validateObject(sm).join('\n')).toMatch(/unknown field \.spec\.endpoints\[0\]\.intervall/);

    expect(validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })[0]).toMatch(/no schema/);
  });

  describe.each(OVERLAYS)('overlay %s', (overlay) => {
    it('renders, and every object validates against the Kubernetes OpenAPI schema with no unknown fields', () => {
      const all = objs(overlay);
      expect(all.length).toBeGreaterThan(30);
      const problems = all.flatMap((o) => validateObject(o));
      expect(problems).toEqual([]);
      // everything namespaced lives in uae
      for (const o of all) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NS);
      // no duplicates
      const keys = all.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(keys).size).toBe(keys.length);
    });

    it.each(SERVICES.map((s) => [s.name, s] as const))('%s has a Deployment, Services, a ServiceAccount and a PodDisruptionBudget that fit together', (name, s) => {
      const all = objs(overlay);
      const dep = find(all, 'Deployment', name);
      const svc = find(all, 'Service', name);
      const headless = find(all, 'Service', `${name}-metrics`);
      const sa = find(all, 'ServiceAccount', name);
      const pdb = find(all, 'PodDisruptionBudget', name);
      const podLabels = dep.spec.template.metadata.labels as Record<string, string>;
      const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
      expect(matches(dep.spec.selector.matchLabels)).toBe(true);
      expect(matches(svc.spec.selector)).toBe(true);
      expect(matches(headless.spec.selector)).toBe(true);
      expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
      expect(podLabels['app.kubernetes.io/part-of']).toBe('uae');
      expect(svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort])).toEqual([
        ['grpc', s.grpc, 'grpc'],
        ['metrics', s.metrics, 'metrics'],
      ]);
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.ports.map((p: any) => [p.name, p.port])).toEqual([['metrics', s.metrics]]);
      expect(dep.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
      expect(sa['automountServiceAccountToken']).toBe(false);
      expect(dep.spec.template.spec.automountServiceAccountToken).toBe(false);
      // a PDB that never blocks a drain of a single replica: maxUnavailable, or minAvailable below the replica count
      if (pdb.spec.minAvailable !== undefined) expect(pdb.spec.minAvailable).toBeLessThan(dep.spec.replicas ?? 1);
      else expect(pdb.spec.maxUnavailable).toBeGreaterThanOrEqual(1);
    });

    it('every service container has health probes, resources, TLS and role tokens from Secrets mounted as files', () => {
      for (const s of SERVICES) {
        const dep = find(objs(overlay), 'Deployment', s.name);
        const c = dep.spec.template.spec.containers[0];
        for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
          // the metrics port's /healthz mirrors the server's grpc.health.v1 status; the kubelet's
          // gRPC probe cannot speak TLS, which the gRPC port does
          expect(c[probe]?.httpGet, `${s.name} ${probe}`).toEqual({ path: '/healthz', port: 'metrics' });
          expect(c[probe].grpc, `${s.name} ${probe}`).toBeUndefined();
        }
        expect(c.ports.find((p: any) => p.name === 'metrics')?.containerPort).toBe(s.metrics);
        // liveness is more patient than readiness (a NATS blip should not restart pods)
        expect(c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold).toBeGreaterThanOrEqual(60);
        expect(c.resources.requests.cpu).toBeDefined();
        expect(c.resources.requests.memory).toBeDefined();
        expect(c.resources.limits.memory).toBeDefined();
        const env = Object.fromEntries((c.env as Array<{ name: string; value?: string; valueFrom?: any }>).map((e) => [e.name, e]));
        expect(env['UAE_AUTH_TOKEN'], s.name).toBeUndefined();
        expect(env['UAE_AUTH_DISABLED'], s.name).toBeUndefined();
        expect(c.envFrom).toEqual([{ configMapRef: { name: 'uae-config' } }]);
        // every file an env var names lies in a read-only mount of the right Secret (whole directory:
        // no subPath, so a rotated Secret reaches the pod and the token file is re-read)
        const volumes = Object.fromEntries((dep.spec.template.spec.volumes as any[]).map((v) => [v.name, v]));
        const secretOf = (file: string) => {
          const m = (c.volumeMounts as any[]).find((vm) => file.startsWith(`${vm.mountPath}/`));
          expect(m, `${s.name}: no mount for ${file}`).toBeDefined();
          expect(m.readOnly, `${s.name} ${m.mountPath}`).toBe(true);
          expect(m.subPath, `${s.name} ${m.mountPath}`).toBeUndefined();
          const secret = volumes[m.name]?.secret;
          expect(secret?.defaultMode, `${s.name} ${m.name}`).toBe(0o440);
          const key = file.slice(m.mountPath.length + 1);
          const item = secret.items?.find((i: any) => i.path === key);
          return `${secret.secretName}/${item ? item.key : key}`;
        };
        expect(secretOf(env['UAE_AUTH_TOKENS_FILE']!.value!)).toBe('uae-auth/tokens');
        expect(secretOf(env['UAE_TLS_CERT']!.value!)).toBe('uae-tls/tls.crt');
        expect(secretOf(env['UAE_TLS_KEY']!.value!)).toBe('uae-tls/tls.key');
        expect(secretOf(env['UAE_TLS_CA']!.value!)).toBe('uae-tls/ca.crt');
      }
      // no secret is shipped: the token and TLS Secrets are created at install time
      expect(objs(overlay).filter((o) => o.kind === 'Secret')).toEqual([]);
    });

    it('every pod runs non-root, without privilege escalation, with all capabilities dropped, seccomp and a read-only root', () => {
      const pods = podTemplates(objs(overlay));
      expect(pods.length).toBeGreaterThanOrEqual(SERVICES.length + 1);
      for (const { owner, spec } of pods) {
        const where = `${owner.kind}/${owner.metadata.name}`;
        expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
        expect(spec.securityContext?.runAsUser, where).toBeGreaterThan(0);
        expect(spec.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
        expect(spec.hostNetwork ?? false, where).toBe(false);
        expect(spec.hostPID ?? false, where).toBe(false);
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          const sc = c.securityContext ?? {};
          expect(sc.allowPrivilegeEscalation, `${where} ${c.name}`).toBe(false);
          expect(sc.readOnlyRootFilesystem, `${where} ${c.name}`).toBe(true);
          expect(sc.privileged ?? false, `${where} ${c.name}`).toBe(false);
          expect(sc.capabilities?.drop, `${where} ${c.name}`).toContain('ALL');
          expect(sc.capabilities?.add ?? [], `${where} ${c.name}`).toEqual([]);
          if (sc.runAsUser !== undefined) expect(sc.runAsUser).toBeGreaterThan(0);
          expect(c.resources?.limits?.memory, `${where} ${c.name}`).toBeDefined();
        }
        for (const v of spec.volumes ?? []) expect(v.hostPath, `${where} volume ${v.name}`).toBeUndefined();
      }
    });

    it('every image is pinned to a version (or digest), the uae image to this overlay\'s flavour', () => {
      const { flavour } = OVERLAY_FLAVOUR[overlay];
      for (const { owner, spec } of podTemplates(objs(overlay))) {
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          const image: string = c.image;
          const digest = /@sha256:[0-9a-f]{64}$/.test(image);
          const tag = /:([^/:@]+)$/.exec(image)?.[1];
          expect(digest || (tag !== undefined && tag !== 'latest' && /\d/.test(tag)), `${owner.metadata.name}: ${image}`).toBe(true);
          if (image.includes('/uae')) expect(image, owner.metadata.name).toMatch(new RegExp(`:\\d+\\.\\d+\\.\\d+-${flavour}$`));
          expect(c.imagePullPolicy).not.toBe('Always');
        }
      }
    });

    it(OVERLAY_FLAVOUR[overlay].gpus ? 'GPU services, and only they, get one nvidia.com/gpu, a GPU node selector and the taint toleration' : 'nothing asks for a GPU', () => {
      for (const { owner, spec } of podTemplates(objs(overlay))) {
        const name = owner.metadata.name;
        const wantsGpu = OVERLAY_FLAVOUR[overlay].gpus && SERVICES.some((s) => s.name === name && s.gpu);
        const limits = spec.containers.map((c: any) => c.resources?.limits?.[GPU]);
        const requests = spec.containers.map((c: any) => c.resources?.requests?.[GPU]);
        if (wantsGpu) {
          expect(limits, name).toEqual([1]);
          expect(requests.every((r: unknown) => r === undefined || r === 1), name).toBe(true);
          expect(spec.nodeSelector, name).toEqual({ 'nvidia.com/gpu.present': 'true' });
          expect(spec.tolerations, name).toContainEqual({ key: GPU, operator: 'Exists', effect: 'NoSchedule' });
          // a rolling update must not need a second GPU
          expect(owner.spec.strategy.rollingUpdate.maxSurge, name).toBe(0);
        }
        // webgpu: the toolkit mounts the Vulkan ICD only for the `graphics` capability, read from the container env
        const caps = spec.containers.map((c: any) => (c.env ?? []).find((e: any) => e.name === 'NVIDIA_DRIVER_CAPABILITIES')?.value);
        if (wantsGpu && OVERLAY_FLAVOUR[overlay].backend === 'webgpu') {
          expect(caps.map((v: string | undefined) => (v ?? '').split(',').sort()), name).toEqual([['compute', 'graphics', 'utility']]);
        } else {
          expect(caps.every((v: unknown) => v === undefined), name).toBe(true);
        }
        if (!wantsGpu) {
          expect(limits.every((l: unknown) => l === undefined), name).toBe(true);
          expect(requests.every((r: unknown) => r === undefined), name).toBe(true);
          expect(JSON.stringify(spec.tolerations ?? []), name).not.toContain(GPU);
          expect(JSON.stringify(spec.nodeSelector ?? {}), name).not.toContain('nvidia.com');
        }
      }
    });

    it('the orchestrator reaches trainer and evaluator through their Services; NATS is where uae-config says', () => {
      const all = objs(overlay);
      const env = Object.fromEntries(
        (find(all, 'Deployment', 'orchestrator').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]),
      );
      for (const [variable, target] of [['UAE_TRAINER_ADDR', 'trainer'], ['UAE_EVALUATOR_ADDR', 'evaluator']] as const) {
        const [host, port] = env[variable]!.split(':');
        expect(host).toBe(target);
        const svc = find(all, 'Service', host!);
        expect(svc.spec.ports.find((p: any) => p.name === 'grpc').port).toBe(Number(port));
      }
      const config = find(all, 'ConfigMap', 'uae-config').data!;
      expect(config['UAE_NATS_URL']).toBe('nats://nats:4222');
      expect(config['UAE_BACKEND']).toBe(OVERLAY_FLAVOUR[overlay].backend);
      if (overlay === 'cpu-only') {
        // the bundled single server: Services named like the Helm chart's
        const nats = find(all, 'Service', 'nats');
        expect(nats.spec.ports.map((p: any) => p.port)).toEqual([4222, 8222]);
        expect(find(all, 'Service', 'nats-headless').spec.ports.map((p: any) => p.port)).toContain(8222);
        expect(find(all, 'StatefulSet', 'nats').spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
        expect(config['UAE_NATS_REPLICAS']).toBe('1');
      } else {
        // NATS from the Helm chart: 3 servers, so 3 replicas
        expect(all.some((o) => o.kind === 'StatefulSet')).toBe(false);
        expect(config['UAE_NATS_REPLICAS']).toBe('3');
        const values = YAML.parse(readFileSync(join(DEPLOY, 'nats', 'values.yaml'), 'utf8'));
        expect(values.config.cluster.replicas).toBe(3);
      }
    });

    it('KEDA scales attack-optimizer on the lag of the stream and durable consumer libs/bus creates, and trainer on demand', () => {
      const all = objs(overlay);
      const topo = natsTopology(); // the default prefix, as the services use it
      const so = find(all, 'ScaledObject', 'attack-optimizer');
      expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'attack-optimizer' });
      expect(so.spec.triggers).toHaveLength(1);
      const t = so.spec.triggers[0];
      expect(t.type).toBe('nats-jetstream');
      expect(t.metadata.stream).toBe(topo.workStream);
      expect(t.metadata.consumer).toBe(topo.workConsumer);
      expect(t.metadata.account).toBe('$G');
      expect(t.metadata.natsServerMonitoringEndpoint).toBe(`nats-headless.${NS}.svc.cluster.local:8222`);
      expect(Number(t.metadata.lagThreshold)).toBeGreaterThanOrEqual(1);
      expect(so.spec.minReplicaCount).toBe(0);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
      expect(so.spec.cooldownPeriod).toBeGreaterThan(0);
      expect(so.spec.fallback.replicas).toBeGreaterThanOrEqual(1);

      const tr = find(all, 'ScaledObject', 'trainer');
      expect(tr.spec.scaleTargetRef.name).toBe('trainer');
      expect(tr.spec.minReplicaCount).toBeGreaterThanOrEqual(1); // TrainingService must answer
      expect(tr.spec.triggers[0].type).toBe('prometheus');
      // HPA-owned Deployments have no replicas field (kubectl apply would reset the scale)
      for (const name of ['attack-optimizer', 'trainer']) expect(find(all, 'Deployment', name).spec.replicas, name).toBeUndefined();
    });

    it('the uae-bus-init Job pre-creates the topology with the project\'s own connectBus, before anything scales', async () => {
      const job = find(objs(overlay), 'Job', 'uae-bus-init');
      const c = job.spec.template.spec.containers[0];
      expect(c.command.slice(0, 3)).toEqual(['node', '--input-type=module', '-e']);
      expect(c.command[3]).toContain("'dist/libs/bus/index.js'");
      expect(c.command[3]).toContain('connectBus');
      expect(c.workingDir).toBe('/app');
      expect(c.envFrom).toEqual([{ configMapRef: { name: 'uae-config' } }]);
      const bus = await import('../../libs/bus/index.js');
      expect(typeof bus.connectBus).toBe('function');
      expect(typeof bus.natsTopology).toBe('function');
      expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    });

    it('the ServiceMonitor scrapes exactly the five headless metrics Services, once each', () => {
      const all = objs(overlay);
      const sm = find(all, 'ServiceMonitor', 'uae');
      const sel = sm.spec.selector.matchLabels as Record<string, string>;
      const selected = all.filter((o) => o.kind === 'Service' && Object.entries(sel).every(([k, v]) => o.metadata.labels?.[k] === v));
      expect(selected.map((o) => o.metadata.name).sort()).toEqual(SERVICES.map((s) => `${s.name}-metrics`).sort());
      expect(sm.spec.jobLabel).toBe('app.kubernetes.io/name');
      expect(sm.spec.endpoints.map((e: any) => e.port)).toEqual(['metrics']);
      const dash = find(all, 'ConfigMap', 'uae-grafana-dashboard');
      expect(dash.metadata.labels?.['grafana_dashboard']).toBe('1');
      expect(JSON.parse(dash.data!['uae.json']!).uid).toBe('uae-overview');
    });

    describe('network policies', () => {
      it('allow exactly the intended flows (default deny)', () => {
        const net = policyModel(objs(overlay));
        const ns = (name: string) => ({ 'kubernetes.io/metadata.name': name });
        const pod = (name: string) => podOf(objs(overlay), name);
        const outsider = { labels: {}, nsLabels: ns('default') };
        const client = { labels: { 'uae.dev/client': 'true' }, nsLabels: ns('platform') };
        const prometheus = { labels: { app: 'prometheus' }, nsLabels: ns('monitoring') };
        const keda = { labels: { app: 'keda-operator' }, nsLabels: ns('keda') };
        const from = (name: string) => ({ labels: pod(name).labels, nsLabels: ns(NS) });
        const natsPod = { labels: { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats', 'app.kubernetes.io/component': 'nats' }, nsLabels: ns(NS), ports: { nats: 4222, cluster: 6222, monitor: 8222, 'prom-metrics': 7777 } };
        const to = (name: string) => ({ labels: pod(name).labels, nsLabels: ns(NS), ports: pod(name).ports });

        // the front door is open to clients (bearer token), the workers are not
        expect(net.allows(outsider, to('orchestrator'), 50050)).toBe(true);
        for (const s of SERVICES.filter((x) => x.name !== 'orchestrator')) {
          expect(net.allows(outsider, to(s.name), s.grpc), `outsider → ${s.name}`).toBe(false);
          expect(net.allows(client, to(s.name), s.grpc), `labelled client → ${s.name}`).toBe(true);
          expect(net.allows(from('orchestrator'), to(s.name), s.grpc), `orchestrator → ${s.name}`).toBe(true);
        }
        // workers do not call each other
        expect(net.allows(from('attack-optimizer'), to('trainer'), 50053)).toBe(false);
        expect(net.allows(from('evaluator'), to('attack-optimizer'), 50052)).toBe(false);
        // metrics: Prometheus only
        for (const s of SERVICES) {
          expect(net.allows(prometheus, to(s.name), s.metrics), `prometheus → ${s.name} metrics`).toBe(true);
          expect(net.allows(outsider, to(s.name), s.metrics), `outsider → ${s.name} metrics`).toBe(false);
          expect(net.allows(prometheus, to(s.name), s.grpc) && s.name !== 'orchestrator', `prometheus → ${s.name} grpc`).toBe(false);
        }
        // NATS: every uae pod (services and the bus-init job), not outsiders; monitoring for KEDA and Prometheus
        for (const s of SERVICES) expect(net.allows(from(s.name), natsPod, 4222), `${s.name} → nats`).toBe(true);
        expect(net.allows(from('uae-bus-init'), natsPod, 4222)).toBe(true);
        expect(net.allows(outsider, natsPod, 4222)).toBe(false);
        expect(net.allows(client, natsPod, 4222)).toBe(false);
        expect(net.allows(keda, natsPod, 8222)).toBe(true);
        expect(net.allows(keda, natsPod, 4222)).toBe(false);
        expect(net.allows(prometheus, natsPod, 7777)).toBe(true);
        expect(net.allows(outsider, natsPod, 8222)).toBe(false);
        expect(net.allows(natsPod, natsPod, 6222)).toBe(true);
        expect(net.allows(from('trainer'), natsPod, 6222)).toBe(false);
      });
    });
  });

  it('the kustomize parts render on their own too (base, nats-single, keda, monitoring)', () => {
    for (const dir of ['base', 'nats-single', 'keda', 'monitoring']) {
      const out = renderKustomize(join(DEPLOY, 'k8s', dir));
      expect(out.length, dir).toBeGreaterThan(0);
      expect(out.flatMap((o) => validateObject(o)), dir).toEqual([]);
    }
  });
});

// ------------------------------------------------------------------ a small NetworkPolicy evaluator

interface Peer {
  labels: Record<string, string>;
  nsLabels: Record<string, string>;
}
interface Target extends Peer {
  ports: Record<string, number>;
}

function podOf(objs: K8sObject[], name: string): { labels: Record<string, string>; ports: Record<string, number> } {
  const owner = podTemplates(objs).find((p) => p.owner.metadata.name === name);
  if (!owner) throw new Error(`no workload ${name}`);
  const ports: Record<string, number> = {};
  for (const c of owner.spec.containers) for (const p of c.ports ?? []) if (p.name) ports[p.name] = p.containerPort;
  return { labels: owner.labels, ports };
}

function selects(selector: any, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries((selector.matchLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  for (const e of (selector.matchExpressions ?? []) as Array<{ key: string; operator: string; values?: string[] }>) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Ingress semantics of networking.k8s.io/v1 for pods in the policies' namespace (no ipBlock, no endPort). */
function policyModel(objs: K8sObject[]) {
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy' && (o.spec.policyTypes ?? ['Ingress']).includes('Ingress'));
  const ns = policies[0]?.metadata.namespace;
  return {
    allows(src: Peer, dst: Target, port: number): boolean {
      if (dst.nsLabels['kubernetes.io/metadata.name'] !== ns) throw new Error('destination outside the policies\' namespace');
      const applying = policies.filter((p) => selects(p.spec.podSelector, dst.labels));
      if (applying.length === 0) return true; // not isolated
      return applying.some((p) =>
        (p.spec.ingress ?? []).some((rule: any) => {
          const portOk =
            !rule.ports ||
            rule.ports.some((rp: any) => (typeof rp.port === 'number' ? rp.port === port : rp.port === undefined || dst.ports[rp.port] === port));
          const peerOk =
            !rule.from ||
            rule.from.some((f: any) => {
              if (f.ipBlock) return false;
              const sameNs = src.nsLabels['kubernetes.io/metadata.name'] === ns;
              if (f.namespaceSelector) return selects(f.namespaceSelector, src.nsLabels) && selects(f.podSelector, src.labels);
              return sameNs && selects(f.podSelector, src.labels);
            });
          return portOk && peerOk;
        }),
      );
    },
  };
}
