/**
 * Monitoring and NATS configuration, statically: promtool (Debian's
 * prometheus package) checks the shipped Prometheus configuration and rules
 * and runs the rules' unit tests; the PrometheusRule for the operator is the
 * rule file; the Grafana dashboard is a well-formed dashboard (a JSON schema
 * for the parts Grafana needs to load it, plus layout and datasource rules);
 * the NATS configurations are what docs/deploy.md says. Live checks against
 * running services are in live.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { NATS_SERVER_BIN, natsServerAvailable } from '../helpers/nats-server.js';
import { DEPLOY, commandAvailable, loadDashboard, metricNames } from './helpers.js';
import { PROMETHEUS_RULE_FILE, renderPrometheusRule } from './prometheusrule.js';

const PROM = join(DEPLOY, 'prometheus');

function promtool(...args: string[]): { code: number; out: string } {
  const r = spawnSync('promtool', args, { cwd: PROM, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!commandAvailable('promtool'))('promtool', () => {
  it('check config: deploy/prometheus/prometheus.yml (and the rule file it loads)', () => {
    const r = promtool('check', 'config', 'prometheus.yml');
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code, r.out).toBe(0);
  });

  it('check rules: deploy/prometheus/uae-rules.yml', () => {
    const r = promtool('check', 'rules', 'uae-rules.yml');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('test rules: the alerts fire (and stay quiet) as uae-rules.test.yml expects', () => {
    const r = promtool('test', 'rules', 'uae-rules.test.yml');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS/);
  });

  it('check rules on the operator\'s PrometheusRule spec too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uae-rules-'));
    try {
      const doc = YAML.parse(readFileSync(PROMETHEUS_RULE_FILE, 'utf8'));
      writeFileSync(join(dir, 'rules.yml'), YAML.stringify(doc.spec));
      const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rules', () => {
  it('the PrometheusRule is generated from the rule file and up to date (npx tsx tests/deploy/prometheusrule.ts --write)', () => {
    expect(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')).toBe(renderPrometheusRule());
  });

  it('cover job failures, redelivery storms, no workers while lag > 0 and the error-rate SLO', () => {
    const rules = YAML.parse(readFileSync(join(PROM, 'uae-rules.yml'), 'utf8')) as { groups: Array<{ rules: Array<Record<string, any>> }> };
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r['alert']);
    const names = alerts.map((a) => a['alert']);
    for (const a of ['UaeJobsFailing', 'UaeShardRedeliveryStorm', 'UaeNoWorkersWithBacklog', 'UaeErrorBudgetFastBurn', 'UaeErrorBudgetSlowBurn']) {
      expect(names).toContain(a);
    }
    for (const a of alerts) {
      expect(a['labels']?.severity, a['alert']).toMatch(/^(critical|warning)$/);
      expect(a['annotations']?.summary, a['alert']).toBeTruthy();
      expect(a['annotations']?.description, a['alert']).toBeTruthy();
    }
    // the lag alert reads the consumer KEDA scales on
    const lag = alerts.find((a) => a['alert'] === 'UaeNoWorkersWithBacklog')!;
    expect(metricNames(lag['expr'])).toEqual(expect.arrayContaining(['nats_consumer_num_pending', 'uae_service_ready']));
    expect(lag['expr']).toContain('stream_name="UAE_WORK"');
    expect(lag['expr']).toContain('consumer_name="UAE_workers"');
  });
});

// ------------------------------------------------------------------ Grafana dashboard

const ds = { type: 'object', required: ['type', 'uid'], properties: { type: { const: 'prometheus' }, uid: { const: '${datasource}' } } };
const gridPos = {
  type: 'object',
  required: ['h', 'w', 'x', 'y'],
  properties: {
    h: { type: 'integer', minimum: 1 },
    w: { type: 'integer', minimum: 1, maximum: 24 },
    x: { type: 'integer', minimum: 0, maximum: 23 },
    y: { type: 'integer', minimum: 0 },
  },
};
/** What Grafana (schemaVersion 36+) needs to load and render this dashboard; stricter where it is cheap. */
const DASHBOARD_SCHEMA = {
  type: 'object',
  required: ['title', 'uid', 'schemaVersion', 'panels', 'templating', 'time'],
  properties: {
    title: { type: 'string', minLength: 1 },
    uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$' },
    schemaVersion: { type: 'integer', minimum: 36 },
    version: { type: 'integer' },
    refresh: { type: 'string' },
    editable: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    time: { type: 'object', required: ['from', 'to'], properties: { from: { type: 'string' }, to: { type: 'string' } } },
    templating: {
      type: 'object',
      required: ['list'],
      properties: {
        list: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'type'],
            properties: { name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, type: { enum: ['datasource', 'query', 'custom', 'constant', 'interval', 'textbox'] } },
          },
        },
      },
    },
    panels: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['id', 'type', 'title', 'gridPos'],
        properties: {
          id: { type: 'integer', minimum: 1 },
          type: { enum: ['row', 'timeseries', 'stat', 'gauge', 'table', 'bargauge', 'heatmap', 'text'] },
          title: { type: 'string', minLength: 1 },
          gridPos,
        },
        if: { properties: { type: { const: 'row' } } },
        then: { required: ['panels', 'collapsed'], properties: { collapsed: { const: false }, panels: { type: 'array', maxItems: 0 } } },
        else: {
          required: ['datasource', 'targets', 'fieldConfig', 'options'],
          properties: {
            datasource: ds,
            targets: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['refId', 'expr', 'datasource'],
                properties: { refId: { type: 'string', pattern: '^[A-Z]$' }, expr: { type: 'string', minLength: 1 }, datasource: ds, legendFormat: { type: 'string' } },
              },
            },
            fieldConfig: { type: 'object', required: ['defaults', 'overrides'] },
          },
        },
      },
    },
  },
};

describe('Grafana dashboard', () => {
  const dash = loadDashboard();

  it('is valid against the dashboard schema', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(DASHBOARD_SCHEMA);
    const ok = validate(dash);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('has unique panel ids, unique refIds per panel, and a layout without overlaps inside 24 columns', () => {
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let dx = 0; dx < p.gridPos.w; dx++)
        for (let dy = 0; dy < p.gridPos.h; dy++) {
          const cell = `${p.gridPos.x + dx},${p.gridPos.y + dy}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      const refs = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refs).size).toBe(refs.length);
    }
  });

  it('queries through the ${datasource} variable (a Prometheus data source) and filters by $namespace', () => {
    const dsVar = dash.templating.list.find((v) => v['name'] === 'datasource');
    expect(dsVar?.['type']).toBe('datasource');
    expect(dsVar?.['query']).toBe('prometheus');
    expect(dash.templating.list.find((v) => v['name'] === 'namespace')?.['type']).toBe('query');
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      for (const t of p.targets!) {
        const uae = metricNames(t.expr).filter((n) => n.startsWith('uae_'));
        if (uae.length > 0) expect(t.expr, `${p.title}: ${t.expr}`).toContain('namespace=~"$namespace"');
        expect(metricNames(t.expr).length, `${p.title}: no metric in ${t.expr}`).toBeGreaterThan(0);
      }
    }
  });

  it('shows jobs, samples/s, ASR, MI, latency and tensor (GPU) memory', () => {
    const all = dash.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr)));
    for (const m of ['uae_jobs_total', 'uae_jobs_active', 'uae_attack_samples_total', 'uae_attack_asr', 'uae_attack_mi_bucket', 'uae_grpc_server_handling_seconds_bucket', 'uae_tfjs_memory_bytes']) {
      expect(all).toContain(m);
    }
  });
});

// ------------------------------------------------------------------ NATS

describe('NATS configuration', () => {
  it('Helm values: JetStream on, file storage, 3 replicas, monitoring on 8222, sync_interval chosen and explained', () => {
    const text = readFileSync(join(DEPLOY, 'nats', 'values.yaml'), 'utf8');
    const v = YAML.parse(text);
    expect(v.config.cluster.enabled).toBe(true);
    expect(v.config.cluster.replicas).toBe(3);
    expect(v.config.jetstream.enabled).toBe(true);
    expect(v.config.jetstream.fileStore.enabled).toBe(true);
    expect(v.config.jetstream.fileStore.pvc.enabled).toBe(true);
    expect(v.config.jetstream.memoryStore.enabled).toBe(false);
    expect(v.config.monitor).toEqual({ enabled: true, port: 8222 });
    expect(v.config.jetstream.merge.sync_interval).toBe('always');
    // the choice is explained next to it
    const i = text.indexOf('sync_interval: always');
    expect(text.slice(Math.max(0, i - 1200), i)).toMatch(/fsync/);
    expect(v.promExporter.enabled).toBe(true);
    expect(text).toMatch(/--version \d+\.\d+\.\d+/); // chart pinned in the install command
  });

  it.skipIf(!natsServerAvailable())('the single-server nats.conf passes `nats-server -t`', () => {
    const conf = readFileSync(join(DEPLOY, 'k8s', 'nats-single', 'nats.conf'), 'utf8');
    expect(conf).toMatch(/^\s*sync_interval: always$/m);
    expect(conf).toMatch(/^\s*store_dir: \/data$/m);
    const version = execFileSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
    const [maj, min] = (/v(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
    // sync_interval arrived in nats-server 2.10; Debian 12 ships 2.9.10, which checks the rest
    const checked = maj! > 2 || (maj === 2 && min! >= 10) ? conf : conf.replace(/^\s*sync_interval:.*$/m, '');
    const dir = mkdtempSync(join(tmpdir(), 'uae-natsconf-'));
    try {
      writeFileSync(join(dir, 'nats.conf'), checked.replace('store_dir: /data', `store_dir: ${join(dir, 'js')}`));
      const r = spawnSync(NATS_SERVER_BIN, ['-c', join(dir, 'nats.conf'), '-t'], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'nats-0' } });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
