/**
 * The deployment against the real thing, on loopback:
 *
 * 1. builds the image layout here — `tsc` into <tmp>/app/dist plus
 *    deploy/docker/stage-dist.sh, package.json, node_modules, the bundled
 *    data — exactly what the Dockerfiles assemble under /app;
 * 2. starts a private nats-server and runs the uae-bus-init Job's script
 *    (taken from the rendered manifests) against it, then asks the NATS
 *    monitoring endpoint what KEDA's nats-jetstream scaler asks (/jsz) for the
 *    stream and consumer in the ScaledObject;
 * 3. starts all five services from the compiled code with each Deployment's
 *    command and environment (ConfigMap + env from the cpu-only overlay; only
 *    addresses, the token, the data directory and the tfjs backend are
 *    replaced for loopback; the Secrets mounted as files — TLS from a CA made
 *    by openssl here, the role tokens — are written where each mount's
 *    directory maps to), so the configuration the manifests give each
 *    service is the one it accepts, TLS and token file included;
 * 4. runs a real Prometheus (Debian's) scraping them with the shipped rules,
 *    sees every target up and the uae_ metrics, every rule evaluating without
 *    error, every dashboard query and the trainer's KEDA query executing;
 * 5. checks that every metric the dashboard, the rules and the KEDA query
 *    name is exported by the live services — except the NATS exporter's
 *    (EXTERNAL below), which comes with the NATS Helm chart.
 *
 * Leaves no process behind (everything is stopped in afterAll and SIGKILLed
 * on exit).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { freePort, natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import {
  DEPLOY,
  KUBECTL,
  ROOT,
  SERVICES,
  commandAvailable,
  exposedFamilies,
  familyOf,
  find,
  loadDashboard,
  metricNames,
  renderOverlay,
  type K8sObject,
  type ServiceName,
} from './helpers.js';

/** Exported by the NATS Prometheus exporter (Helm chart promExporter), not by the uae services. */
const EXTERNAL = new Set(['nats_consumer_num_pending', 'nats_consumer_num_ack_pending', 'up']);
const TOKEN = 'deploy-live-test-token-0123456789';
/** Services that run tfjs (the orchestrator delegates training and evaluation when it has their addresses). */
const TENSOR_SERVICES: ServiceName[] = ['mine-estimator', 'attack-optimizer', 'trainer', 'evaluator'];

const ready = natsServerAvailable() && commandAvailable('prometheus') && commandAvailable(KUBECTL);

interface Running {
  name: ServiceName;
  proc: ChildProcess;
  grpc: string;
  metrics: string;
  stderr: () => string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function track(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

async function stopProcess(proc: ChildProcess, ms = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The environment a Deployment's container gets: envFrom ConfigMaps, then env (secrets replaced by `secrets`). */
function manifestEnv(objs: K8sObject[], container: any, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, find(objs, 'ConfigMap', from.configMapRef.name).data);
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const key = `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
      if (!(key in secrets)) throw new Error(`no test value for secret ${key}`);
      env[e.name] = secrets[key]!;
    } else throw new Error(`unsupported env source for ${e.name}`);
  }
  return env;
}

/**
 * The Secret volumes of a pod as local directories: each mount of a Secret
 * becomes <root>/<volume> holding the Secret's keys (`secrets`, "name/key")
 * under their item paths; env values under a mount path are rewritten to it.
 */
function mountSecrets(pod: any, container: any, env: Record<string, string>, secrets: Record<string, string>, root: string): Record<string, string> {
  const out = { ...env };
  for (const m of container.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v: any) => v.name === m.name);
    if (!volume?.secret) continue;
    const dir = join(root, m.name);
    mkdirSync(dir, { recursive: true });
    const items: Array<{ key: string; path: string }> =
      volume.secret.items ?? Object.keys(secrets).filter((k) => k.startsWith(`${volume.secret.secretName}/`)).map((k) => ({ key: k.split('/')[1]!, path: k.split('/')[1]! }));
    for (const item of items) {
      const value = secrets[`${volume.secret.secretName}/${item.key}`];
      if (value === undefined) throw new Error(`no test value for secret ${volume.secret.secretName}/${item.key}`);
      writeFileSync(join(dir, item.path), value, { mode: 0o600 });
    }
    for (const [k, v] of Object.entries(out)) if (v.startsWith(`${m.mountPath}/`)) out[k] = join(dir, v.slice(m.mountPath.length + 1));
  }
  return out;
}

const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UAE_'))) as Record<string, string>;

describe.skipIf(!ready)('live: compiled services, NATS, bus-init, Prometheus, dashboard', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'uae-deploy-live-'));
  const app = join(tmp, 'app');
  const objs = ready ? renderOverlay('cpu-only') : [];
  let nats: NatsServerHandle;
  const running = new Map<ServiceName, Running>();
  let prom: ChildProcess | undefined;
  let promUrl = '';
  const families = new Map<ServiceName, Map<string, string>>();
  let busInitOut = '';
  let pki: TestPki;

  beforeAll(async () => {
    // 1. the image layout
    mkdirSync(app, { recursive: true });
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json'), '--outDir', join(app, 'dist')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    for (const s of SERVICES) {
      if (!existsSync(join(app, 'dist', 'services', s.name, 'main.js'))) {
        throw new Error(`tsc produced no dist/services/${s.name}/main.js:\n${tsc.stdout}${tsc.stderr}`);
      }
    }
    const staged = spawnSync('sh', [join(DEPLOY, 'docker', 'stage-dist.sh'), ROOT, join(app, 'dist')], { encoding: 'utf8' });
    if (staged.status !== 0) throw new Error(`stage-dist.sh failed: ${staged.stderr}`);
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
    mkdirSync(join(app, 'libs', 'data'), { recursive: true });
    symlinkSync(join(ROOT, 'libs', 'data', 'bundled'), join(app, 'libs', 'data', 'bundled'));

    // 2. NATS and the bus-init Job
    nats = await startNatsServer();
    const job = find(objs, 'Job', 'uae-bus-init').spec.template.spec.containers[0];
    const jobEnv = { ...cleanEnv(), ...manifestEnv(objs, job, {}), UAE_NATS_URL: nats.url };
    const init = spawnSync(job.command[0] === 'node' ? process.execPath : job.command[0], job.command.slice(1), {
      cwd: app,
      env: jobEnv,
      encoding: 'utf8',
      timeout: 30_000,
    });
    busInitOut = `${init.stdout}${init.stderr}`;
    if (init.status !== 0) throw new Error(`bus-init exited ${init.status}:\n${busInitOut}`);

    // 3. the services, as the Deployments run them
    const dataDir = join(tmp, 'data');
    mkdirSync(dataDir);
    pki = makeTestPki();
    const secrets = {
      'uae-auth/tokens': `admin ${TOKEN}\n`,
      'uae-tls/tls.crt': readFileSync(pki.serverCertFile, 'utf8'),
      'uae-tls/tls.key': readFileSync(pki.serverKeyFile, 'utf8'),
      'uae-tls/ca.crt': readFileSync(pki.caFile, 'utf8'),
    };
    const start = (name: ServiceName, extra: Record<string, string> = {}): Promise<Running> => {
      const pod = find(objs, 'Deployment', name).spec.template.spec;
      const c = pod.containers[0];
      const env: Record<string, string> = {
        ...cleanEnv(),
        ...mountSecrets(pod, c, manifestEnv(objs, c, {}), secrets, join(tmp, 'secrets', name)),
        // loopback and ephemeral ports instead of the pod's network
        UAE_GRPC_HOST: '127.0.0.1',
        UAE_GRPC_PORT: '0',
        UAE_METRICS_HOST: '127.0.0.1',
        UAE_METRICS_PORT: '0',
        UAE_NATS_URL: nats.url,
        UAE_DATA_DIR: join(dataDir, name),
        // the image has @tensorflow/tfjs-node; this machine may not
        UAE_BACKEND: 'auto',
        ...extra,
      };
      const [cmd, ...args] = c.command as string[];
      const proc = track(spawn(cmd === 'node' ? process.execPath : cmd!, args, { cwd: join(app, c.workingDir.replace(/^\/app/, '')), env, stdio: ['ignore', 'pipe', 'pipe'] }));
      let out = '';
      let err = '';
      proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      proc.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-20_000)));
      const re = new RegExp(`^${name} grpc (\\S+) metrics (\\S+)$`, 'm');
      return new Promise<Running>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} not ready within 75 s:\n${err.slice(-4000)}`)), 75_000);
        const check = () => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(timer);
            proc.stdout!.off('data', check);
            resolve({ name, proc, grpc: m[1]!, metrics: m[2]!, stderr: () => err });
          }
        };
        proc.stdout!.on('data', check);
        proc.once('exit', (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? sig}) before it was ready:\n${err.slice(-4000)}`));
        });
      });
    };
    const workers = await Promise.all((['mine-estimator', 'attack-optimizer', 'trainer', 'evaluator'] as const).map((n) => start(n)));
    for (const w of workers) running.set(w.name, w);
    const orch = await start('orchestrator', {
      UAE_TRAINER_ADDR: running.get('trainer')!.grpc,
      UAE_EVALUATOR_ADDR: running.get('evaluator')!.grpc,
    });
    running.set('orchestrator', orch);

    // one health call each, so the gRPC series exist
    const Health = grpc.makeGenericClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'grpc.health.v1.Health');
    await Promise.all(
      [...running.values()].map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            const client = new Health(r.grpc, grpc.credentials.createSsl(readFileSync(pki.caFile)));
            (client as any).check({ service: '' }, (err: Error | null, res: { status: string | number }) => {
              client.close();
              if (err) reject(err);
              else if (res.status !== 'SERVING' && res.status !== 1) reject(new Error(`${r.name}: ${res.status}`));
              else resolve();
            });
          }),
      ),
    );
    for (const r of running.values()) {
      const text = await (await fetch(`http://${r.metrics}/metrics`)).text();
      families.set(r.name, exposedFamilies(text));
    }

    // 4. Prometheus with the shipped rules (evaluated every second here)
    const promDir = join(tmp, 'prometheus');
    mkdirSync(promDir);
    const rules = readFileSync(join(DEPLOY, 'prometheus', 'uae-rules.yml'), 'utf8').replace(/^(\s+)interval: \d+[smh]$/gm, '$1interval: 1s');
    writeFileSync(join(promDir, 'uae-rules.yml'), rules);
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: ['uae-rules.yml'],
      scrape_configs: [...running.values()].map((r) => ({
        job_name: r.name,
        static_configs: [{ targets: [r.metrics], labels: { namespace: 'uae' } }],
      })),
    };
    writeFileSync(join(promDir, 'prometheus.yml'), YAML.stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    let promLog = '';
    prom = track(
      spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
        cwd: promDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    prom.stdout!.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-8000)));
    prom.stderr!.on('data', (b: Buffer) => (promLog = (promLog + b.toString()).slice(-8000)));
    await until('Prometheus ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${promLog}`);
    });
  }, 150_000);

  afterAll(async () => {
    if (prom) await stopProcess(prom);
    await Promise.all([...running.values()].map((r) => stopProcess(r.proc)));
    await nats?.dispose();
    rmSync(tmp, { recursive: true, force: true });
    pki?.remove();
  });

  async function query(q: string): Promise<{ status: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }; error?: string }> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await res.json()) as any;
  }

  it('bus-init created the stream and durable consumer KEDA reads, and the lag KEDA computes is 0', async () => {
    expect(busInitOut).toMatch(/"msg":"bus ready"/);
    const so = find(objs, 'ScaledObject', 'attack-optimizer').spec.triggers[0].metadata;
    // what the nats-jetstream scaler requests
    const jsz = (await (await fetch(`http://127.0.0.1:${nats.monitorPort}/jsz?acc=${encodeURIComponent(so.account)}&consumers=true&config=true`)).json()) as any;
    const account = jsz.account_details.find((a: any) => a.name === so.account);
    expect(account, JSON.stringify(jsz).slice(0, 400)).toBeDefined();
    const stream = account.stream_detail.find((s: any) => s.name === so.stream);
    expect(stream, `stream ${so.stream}`).toBeDefined();
    const consumer = stream.consumer_detail.find((c: any) => c.name === so.consumer);
    expect(consumer, `consumer ${so.consumer}`).toBeDefined();
    expect(consumer.config.durable_name).toBe(so.consumer);
    expect(consumer.num_pending + consumer.num_ack_pending).toBe(0);
  });

  it('every service started from the compiled entry point with the manifests\' configuration and is SERVING', () => {
    expect([...running.keys()].sort()).toEqual(SERVICES.map((s) => s.name).sort());
    for (const r of running.values()) {
      expect(r.proc.exitCode).toBeNull();
      // nothing in its configuration was rejected; unknown UAE_* variables are only warned about
      expect(r.stderr()).not.toMatch(/invalid service configuration/);
    }
  });

  it('Prometheus scrapes every service (all targets up) and has their uae_ metrics', async () => {
    const targets = await until(
      'all targets up',
      async () => {
        const t = (await (await fetch(`${promUrl}/api/v1/targets?state=active`)).json()) as any;
        const active = t.data.activeTargets as Array<{ labels: Record<string, string>; health: string; lastError: string }>;
        return active.length === SERVICES.length && active.every((a) => a.health === 'up') ? active : undefined;
      },
      30_000,
    );
    expect(targets.map((t) => t.labels['job']).sort()).toEqual(SERVICES.map((s) => s.name).sort());
    const ready = await until(
      'uae_service_ready for every job',
      async () => {
        const r = await query('uae_service_ready');
        return r.data && r.data.result.length === SERVICES.length ? r.data.result : undefined;
      },
      20_000,
    );
    for (const s of ready) expect(s.value[1], s.metric['job']).toBe('1');
    const health = await until(
      'health calls counted',
      async () => {
        const r = await query('sum by (job) (uae_grpc_server_handled_total{service="grpc.health.v1.Health",code="OK"})');
        return r.data && r.data.result.length === SERVICES.length ? r.data.result : undefined;
      },
      20_000,
    );
    for (const s of health) expect(Number(s.value[1])).toBeGreaterThanOrEqual(1);
    const r = await query('count by (job) (uae_process_resident_memory_bytes)');
    expect(r.data?.result.length).toBe(SERVICES.length);
    // tfjs runs in the four compute services; the orchestrator with remote trainer/evaluator has none
    for (const q of ['uae_tfjs_backend_info', 'uae_tfjs_memory_bytes', 'uae_tfjs_tensors']) {
      const jobs = (await query(`count by (job) (${q})`)).data?.result.map((x) => x.metric['job']).sort();
      expect(jobs, q).toEqual(TENSOR_SERVICES.slice().sort());
    }
  });

  it('every shipped rule evaluates without error against the live series', async () => {
    const groups = await until(
      'rules evaluated',
      async () => {
        const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as any;
        const gs = r.data.groups as Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> }>;
        const all = gs.flatMap((g) => g.rules);
        return all.length > 0 && all.every((x) => !x.lastEvaluation.startsWith('0001')) ? gs : undefined;
      },
      20_000,
    );
    const bad = groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
    expect(bad.map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    // the services are fine: no alert is firing
    const alerts = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as any;
    expect(alerts.data.alerts.filter((a: any) => a.state === 'firing').map((a: any) => a.labels.alertname)).toEqual([]);
  });

  it('every dashboard query and the trainer\'s KEDA query execute in Prometheus', async () => {
    const dash = loadDashboard();
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    const keda = find(objs, 'ScaledObject', 'trainer').spec.triggers[0].metadata.query as string;
    exprs.push({ panel: 'KEDA trainer', expr: keda });
    const failures: string[] = [];
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll('$namespace', 'uae').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m');
      const r = await query(q);
      if (r.status !== 'success') failures.push(`${panel}: ${r.error} in ${q}`);
    }
    expect(failures).toEqual([]);
    // and the KEDA query yields a number (the trainer's demand) rather than nothing
    const demand = await query(keda);
    expect(demand.data?.result.length).toBe(1);
  });

  it('every metric the dashboard, the rules and the KEDA query name is exported by the services (or is the NATS exporter\'s)', () => {
    const exported = new Set<string>();
    for (const f of families.values()) for (const name of f.keys()) exported.add(name);
    const rules = YAML.parse(readFileSync(join(DEPLOY, 'prometheus', 'uae-rules.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string; expr: string }> }> };
    const recorded = new Set(rules.groups.flatMap((g) => g.rules).flatMap((r) => (r.record ? [r.record] : [])));
    const used: Array<{ where: string; metric: string }> = [];
    for (const p of loadDashboard().panels) for (const t of p.targets ?? []) for (const m of metricNames(t.expr)) used.push({ where: `dashboard "${p.title}"`, metric: m });
    for (const g of rules.groups) for (const r of g.rules) for (const m of metricNames(r.expr)) used.push({ where: `rule ${r.record ?? (r as any).alert}`, metric: m });
    for (const m of metricNames(find(objs, 'ScaledObject', 'trainer').spec.triggers[0].metadata.query)) used.push({ where: 'KEDA trainer query', metric: m });
    const missing = used.filter(({ metric }) => !EXTERNAL.has(metric) && !recorded.has(metric) && familyOf(metric, exported) === undefined);
    expect(missing.map((u) => `${u.where}: ${u.metric}`)).toEqual([]);
    // the external ones really are only the NATS exporter's and Prometheus' own
    for (const { metric } of used) if (EXTERNAL.has(metric)) expect(metric).toMatch(/^(nats_|up$)/);
    expect(used.length).toBeGreaterThan(40);
  });

  it('the services export the metric families docs/deploy.md and the dashboard describe, with their types', () => {
    const want: Array<[ServiceName, string, string]> = [
      ['orchestrator', 'uae_jobs_total', 'counter'],
      ['orchestrator', 'uae_jobs_active', 'gauge'],
      ['orchestrator', 'uae_job_duration_seconds', 'histogram'],
      ['orchestrator', 'uae_artifact_bytes_total', 'counter'],
      ['attack-optimizer', 'uae_attack_samples_total', 'counter'],
      ['attack-optimizer', 'uae_attack_samples_per_second', 'gauge'],
      ['attack-optimizer', 'uae_attack_asr', 'gauge'],
      ['attack-optimizer', 'uae_attack_mi', 'histogram'],
      ['attack-optimizer', 'uae_attack_shards_total', 'counter'],
      ['attack-optimizer', 'uae_shard_redeliveries_total', 'counter'],
      ['mine-estimator', 'uae_mine_estimates_total', 'counter'],
      ['trainer', 'uae_training_epochs_total', 'counter'],
      ['trainer', 'uae_training_loss', 'gauge'],
      ['trainer', 'uae_training_jobs_running', 'gauge'],
    ];
    for (const s of SERVICES) {
      want.push([s.name, 'uae_grpc_server_handled_total', 'counter'], [s.name, 'uae_grpc_server_handling_seconds', 'histogram']);
      want.push([s.name, 'uae_service_ready', 'gauge'], [s.name, 'uae_process_resident_memory_bytes', 'gauge']);
    }
    for (const name of TENSOR_SERVICES) want.push([name, 'uae_tfjs_backend_info', 'gauge'], [name, 'uae_tfjs_memory_bytes', 'gauge'], [name, 'uae_tfjs_tensors', 'gauge']);
    const missing = want.filter(([svc, name, type]) => families.get(svc)?.get(name) !== type).map(([svc, name, type]) => `${svc}: ${name} (${type}) → ${families.get(svc)?.get(name) ?? 'absent'}`);
    expect(missing).toEqual([]);
  });
});
