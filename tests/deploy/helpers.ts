/**
 * Shared by tests/deploy: the repository layout of deploy/, the five services
 * with their ports, rendering a kustomize overlay with the kubectl on PATH
 * (UAE_KUBECTL overrides), offline validation of rendered objects against the
 * Kubernetes OpenAPI schema (kubernetes-models, plus the KEDA and
 * prometheus-operator CRD models) with unknown-field detection, and pulling
 * metric names out of PromQL.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import * as coreV1 from 'kubernetes-models/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

export const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const DEPLOY = join(ROOT, 'deploy');
export const OVERLAYS = ['cpu-only', 'gpu', 'gpu-webgpu'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** Per overlay: the image flavour (tag suffix, Dockerfile.<flavour>), whether GPU services get GPUs, the tfjs backend uae-config names. */
export const OVERLAY_FLAVOUR = {
  'cpu-only': { flavour: 'cpu', gpus: false, backend: 'tensorflow' },
  gpu: { flavour: 'gpu', gpus: true, backend: 'tensorflow' },
  'gpu-webgpu': { flavour: 'webgpu', gpus: true, backend: 'webgpu' },
} as const satisfies Record<Overlay, { flavour: string; gpus: boolean; backend: string }>;

/** The services, their default ports (services/<name>/main.ts) and whether they are GPU-bound. */
export const SERVICES = [
  { name: 'orchestrator', grpc: 50050, metrics: 9460, gpu: false },
  { name: 'mine-estimator', grpc: 50051, metrics: 9461, gpu: true },
  { name: 'attack-optimizer', grpc: 50052, metrics: 9462, gpu: true },
  { name: 'trainer', grpc: 50053, metrics: 9463, gpu: true },
  { name: 'evaluator', grpc: 50054, metrics: 9464, gpu: false },
] as const;
export type ServiceName = (typeof SERVICES)[number]['name'];

export const KUBECTL = process.env['UAE_KUBECTL'] ?? 'kubectl';

export function commandAvailable(cmd: string): boolean {
  return spawnSync(cmd, ['--help'], { stdio: 'ignore' }).error === undefined;
}

// ------------------------------------------------------------------ objects

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [k: string]: unknown;
}

export function parseYamlDocs(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML error: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** `kubectl kustomize <dir>` → objects (kustomize's deprecation warnings on stderr are fine). */
export function renderKustomize(dir: string): K8sObject[] {
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  return parseYamlDocs(out);
}

const renderCache = new Map<Overlay, K8sObject[]>();
export function renderOverlay(overlay: Overlay): K8sObject[] {
  let objs = renderCache.get(overlay);
  if (!objs) {
    objs = renderKustomize(join(DEPLOY, 'k8s', 'overlays', overlay));
    renderCache.set(overlay, objs);
  }
  return objs;
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name} in the rendered objects`);
  return o;
}

/** Every pod template in the objects (Deployments, StatefulSets, Jobs), with its owner. */
export function podTemplates(objs: K8sObject[]): Array<{ owner: K8sObject; spec: any; labels: Record<string, string> }> {
  return objs
    .filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind))
    .map((o) => ({ owner: o, spec: o.spec.template.spec, labels: o.spec.template.metadata?.labels ?? {} }));
}

// ------------------------------------------------------------------ schema validation

type ModelClass = { apiVersion: string; kind: string; prototype: { validate(this: unknown): void } };

function modelsOf(...modules: Array<Record<string, unknown>>): Map<string, ModelClass> {
  const m = new Map<string, ModelClass>();
  for (const mod of modules) {
    for (const v of Object.values(mod)) {
      if (typeof v !== 'function') continue;
      const c = v as unknown as Partial<ModelClass>;
      if (typeof c.apiVersion === 'string' && typeof c.kind === 'string') m.set(`${c.apiVersion}/${c.kind}`, c as ModelClass);
    }
  }
  return m;
}

/** apiVersion/kind → model class: Kubernetes core, apps, batch, policy, networking; KEDA; prometheus-operator. */
export const MODELS = modelsOf(coreV1, appsV1, batchV1, policyV1, networkingV1, kedaV1alpha1, monitoringV1);

interface Access {
  gets: Set<string>;
  enumerated: boolean;
}

/**
 * Validates `obj` against its kind's OpenAPI schema and reports fields the
 * schema does not know (the compiled validators ignore them, the API server
 * would reject them with strict field validation, or silently drop them).
 *
 * Unknown fields are found by watching the validator: it reads every property
 * its schema declares (present or not) on each object it checks. An object
 * whose keys the validator enumerated (a map: labels, annotations, data) or
 * never looked into (a free-form field) is not judged.
 */
export function validateObject(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS.get(key);
  if (!Model) return [`${key} ${obj.metadata?.name}: no schema for this kind (add its model to tests/deploy/helpers.ts)`];

  const records = new Map<object, Access>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const target = value as object;
    const known = proxies.get(target);
    if (known) return known;
    const rec: Access = { gets: new Set(), enumerated: false };
    records.set(target, rec);
    const proxy = new Proxy(target, {
      get(t, k, r) {
        if (typeof k === 'string') rec.gets.add(k);
        return wrap(Reflect.get(t, k, r));
      },
      has(t, k) {
        if (typeof k === 'string') rec.gets.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        rec.enumerated = true;
        return Reflect.ownKeys(t);
      },
      getOwnPropertyDescriptor(t, k) {
        if (typeof k === 'string') rec.gets.add(k);
        return Reflect.getOwnPropertyDescriptor(t, k);
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };

  const problems: string[] = [];
  const data = structuredClone(obj) as Record<string, unknown>;
  // The model's validate() runs the compiled schema on `this` as it is (the
  // constructor would deep-copy, so call it on the watched object directly).
  try {
    Model.prototype.validate.call(wrap(data));
  } catch (e) {
    problems.push(`${key} ${obj.metadata?.name}: ${(e as Error).message}`);
  }

  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
      return;
    }
    const rec = records.get(value);
    if (rec && !rec.enumerated && rec.gets.size > 0) {
      for (const k of Object.keys(value)) {
        if (!rec.gets.has(k)) problems.push(`${key} ${obj.metadata?.name}: unknown field ${path}.${k}`);
      }
    }
    for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
  };
  walk(data, '');
  return problems;
}

// ------------------------------------------------------------------ PromQL

const PROMQL_KEYWORDS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan',
]);

/**
 * Metric names a PromQL expression selects: identifiers that are neither
 * functions/aggregations (followed by "("), keywords, label names (inside
 * {…} or by/without/on/ignoring/group_x (…) lists), nor inside strings or
 * [range] brackets. Grafana variables ($namespace, $__rate_interval) are
 * fine anywhere they can appear.
 */
export function metricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ');
  const names = new Set<string>();
  const re = /(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])(\s*\()?/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const [, id, call] = m;
    if (call || PROMQL_KEYWORDS.has(id!.toLowerCase())) continue;
    names.add(id!);
  }
  return [...names];
}

/** The metric family a sample name belongs to (histogram/summary parts → base name). */
export function familyOf(sample: string, families: Set<string>): string | undefined {
  if (families.has(sample)) return sample;
  for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
    if (sample.endsWith(suffix) && families.has(sample.slice(0, -suffix.length))) return sample.slice(0, -suffix.length);
  }
  return undefined;
}

/** Metric families (name → type) declared in Prometheus text exposition (# TYPE lines). */
export function exposedFamilies(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) m.set(t[1]!, t[2]!);
  }
  return m;
}

export function fileExists(...parts: string[]): boolean {
  return existsSync(join(ROOT, ...parts));
}

// ------------------------------------------------------------------ Grafana dashboard

export const DASHBOARD_FILE = join(DEPLOY, 'k8s', 'monitoring', 'dashboards', 'uae.json');

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ refId: string; expr: string }>;
}

export function loadDashboard(): { panels: DashboardPanel[]; templating: { list: Array<Record<string, any>> } } & Record<string, any> {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));
}
