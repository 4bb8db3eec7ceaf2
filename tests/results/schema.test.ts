/**
 * One result schema for local and cluster runs: a real tiny `uae pipeline`
 * run's metrics.json and a real cluster pipeline job's result (the
 * orchestrator test cluster; fetched with `uae jobs get --format json`, and
 * converted in-process with resultDocumentFromJob) both validate against
 * docs/results.schema.json and share their field names.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { resultDocumentFromJob, RESULT_SCHEMA_VERSION, type ResultDocument } from '../../libs/results/index.js';
import { toolInfo } from '../../libs/runtime/package-info.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { REPO_ROOT, unary } from '../helpers/services.js';
import { startCluster, tinyPipeline, waitTerminal, type Cluster } from '../services/orchestrator-helpers.js';

const run = promisify(execFile);
const uae = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [join(REPO_ROOT, 'bin/uae.mjs'), ...args], { cwd: REPO_ROOT, timeout: 300_000, env: { ...process.env, ...env } });

let validate: ValidateFunction;
const errorsOf = (doc: unknown) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

beforeAll(async () => {
  const schema = JSON.parse(await readFile(join(REPO_ROOT, 'docs/results.schema.json'), 'utf8')) as object;
  validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
});

/** Every key path of a document, arrays by element, map keys (arms, metrics) kept. */
function keyPaths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => keyPaths(x, `${prefix}[]`));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [`${prefix}.${k}`, ...keyPaths(x, `${prefix}.${k}`)]);
  return [];
}

describe('the result document', () => {
  let local: ResultDocument;
  let out: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'uae-schema-'));
    // The same tiny study as the cluster's below (tests/services/orchestrator-helpers.ts tinyPipeline).
    const { stdout } = await uae([
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '16', '--methods', 'mine,repeat', '--out', out,
      '--train-samples', '24', '--test-samples', '16', '--data-seed', '1', '--validation', '0', '--retrain-schedule', 'longer',
      '--epochs', '2', '--retrain-epochs', '2', '--batch', '8', '--probe', 'mlp', '--classifier-epochs', '2',
      '--iterations', '2', '--mine-steps', '1', '--mine-draws', '8', '--workers', '1', '--seed', '5', '--format', 'json',
    ]);
    local = JSON.parse(stdout) as ResultDocument;
  });

  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('metrics.json of a local run validates, with the envelope', async () => {
    expect(errorsOf(local)).toEqual([]);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'))).toEqual(local);
    expect(local.schema_version).toBe(RESULT_SCHEMA_VERSION);
    expect(local.tool).toEqual(toolInfo());
    expect(Date.parse(local.started_at)).toBeLessThanOrEqual(Date.parse(local.finished_at));
    expect(Date.parse(local.finished_at)).toBeLessThanOrEqual(Date.now());
    expect(local.model).toBe('dense-ae');
    expect(local.protocol?.validation).toBeNull();
    expect(Object.keys(local.methods)).toEqual(['original', 'mine', 'repeat']);
  });

  it('uae summarize reads it, and refuses a schema_version it does not know', async () => {
    expect((await uae(['summarize', out])).stdout).toMatch(/^\| mine \|/m);
    const newer = await mkdtemp(join(tmpdir(), 'uae-schema-v2-'));
    await writeFile(join(newer, 'metrics.json'), JSON.stringify({ ...local, schema_version: 2 }));
    const failure = await uae(['summarize', newer]).catch((e: { code: number; stderr: string }) => e);
    await rm(newer, { recursive: true, force: true });
    expect(failure).toMatchObject({ code: 2, stderr: `uae: ${join(newer, 'metrics.json')}: schema_version 2 is not 1, the result schema this uae reads\n` });
  });

  it('rejects the other JSON mapping and a broken envelope, naming the field', () => {
    const camel = { ...local, methods: { ...local.methods, mine: { ...local.methods.mine, testReconError: 0.1 } } };
    expect(errorsOf(camel).join('\n')).toMatch(/\/methods\/mine must NOT have additional properties/);
    expect(errorsOf({ ...local, model: 'MODEL_KIND_DENSE_AE' }).join('\n')).toMatch(/\/model must be equal to one of the allowed values/);
    const { schema_version: _v, ...noVersion } = local;
    expect(errorsOf(noVersion).join('\n')).toMatch(/must have required property 'schema_version'/);
    expect(errorsOf({ ...local, schema_version: 2 }).join('\n')).toMatch(/\/schema_version must be equal to constant/);
    expect(errorsOf({ ...local, started_at: '2026-12-02 07:00' }).join('\n')).toMatch(/\/started_at must match pattern/);
    const verdicts = local.comparisons.map((c) => ({ ...c, verdict: 'COMPARISON_VERDICT_BETTER' }));
    expect(errorsOf({ ...local, comparisons: verdicts }).join('\n')).toMatch(/\/comparisons\/0\/verdict must be equal to one of the allowed values/);
  });

  describe.skipIf(!natsServerAvailable())('and a cluster job', () => {
    let cluster: Cluster;
    let job: v1.Job;

    beforeAll(async () => {
      cluster = await startCluster();
      const client = cluster.jobsClient();
      const meta = cluster.orchestrator.metadata();
      const config = tinyPipeline({
        methods: [{ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_MINE }, { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_REPEAT }],
      });
      const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config }), meta);
      job = await waitTerminal(client, res.job!.jobId, meta, 240_000);
      expect(job.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    it('`uae jobs get --format json` prints its result document, which validates', async () => {
      const { stdout } = await uae(['jobs', 'get', job.jobId, '--format', 'json'], { UAE_SERVER: cluster.orchestrator.grpc, UAE_AUTH_TOKEN: cluster.orchestrator.token });
      const remote = JSON.parse(stdout) as ResultDocument;
      expect(errorsOf(remote)).toEqual([]);
      expect(remote).toEqual(resultDocumentFromJob(job));
      expect(remote.job_id).toBe(job.jobId);
      expect(remote.tool).toEqual(toolInfo());
      expect(remote.started_at).toBe(job.startedAt!.toISOString());
      expect(remote.finished_at).toBe(job.finishedAt!.toISOString());
      expect(remote.model).toBe('dense-ae');
      expect(remote.comparisons.map((c) => c.verdict)).toEqual(local.comparisons.map((c) => c.verdict));

      // The same names everywhere: every key path of one is a key path of the
      // other, but for what only one side carries (job_id; the protocol, which
      // the cluster keeps in the job's config) and the summaries of successful
      // UAEs, which exist only when an attack succeeded (data, not schema).
      const dataDependent = (k: string) => k.startsWith('.protocol') || k === '.job_id' || /\.mi(\.|$)|\.diagnostics\./.test(k);
      const only = (a: ResultDocument, b: ResultDocument) => {
        const theirs = new Set(keyPaths(b));
        return [...new Set(keyPaths(a))].filter((k) => !theirs.has(k) && !dataDependent(k));
      };
      expect(only(local, remote)).toEqual([]);
      expect(only(remote, local)).toEqual([]);

      // Saved as metrics.json, a cluster result reads like a local one.
      const saved = await mkdtemp(join(tmpdir(), 'uae-schema-remote-'));
      await writeFile(join(saved, 'metrics.json'), stdout);
      const md = (await uae(['summarize', saved])).stdout;
      await rm(saved, { recursive: true, force: true });
      expect(md).toMatch(/^mice-protein, dense-ae, wasm; seeds 5; 24 samples trained on and attacked, 0 validation, 16 test\. /);
      expect(md).toMatch(/^\| repeat \|/m);
    });
  });
});
