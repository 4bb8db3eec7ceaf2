/**
 * The remote `uae` subcommands (submit, watch, jobs, artifacts) against the
 * fake system: in-process through commander with captured output, and a few
 * runs of the real bin/uae.mjs (registration in cli/uae.ts, exit codes, env).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { applyConventions, errorLine } from '../../cli/conventions.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteArtifactsCommand } from '../../cli/commands/remote-artifacts.js';
import type { RemoteIO } from '../../cli/commands/remote-common.js';
import { remoteJobsCommand } from '../../cli/commands/remote-jobs.js';
import { remoteSubmitCommand } from '../../cli/commands/remote-submit.js';
import { remoteWatchCommand } from '../../cli/commands/remote-watch.js';
import { v1 } from '../../libs/proto/index.js';
import { FAKE_TOKEN, startFakeServer, type FakeServer } from './fake-server.js';

const root = new URL('../../', import.meta.url).pathname;
const MICE = join(root, 'examples/pipeline-mice.json');
let fake: FakeServer;
let dir: string;

interface Run {
  out: string;
  err: string;
  code: number;
}

function sink(onData: (s: string) => void): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      onData(String(chunk));
      cb();
    },
  });
}

/** Runs `uae <args>` in-process with the remote commands only, with cli/uae.ts's conventions (errors: one line `uae: …`, code 2). */
async function cli(args: string[], env: Record<string, string | undefined> = {}, tty = false): Promise<Run> {
  const r: Run = { out: '', err: '', code: 0 };
  const io: RemoteIO = {
    out: sink((s) => (r.out += s)),
    err: sink((s) => (r.err += s)),
    env: { UAE_SERVER: fake.address, UAE_AUTH_TOKEN: FAKE_TOKEN, ...env },
    tty,
    exit: (c) => (r.code = c),
  };
  const program = new Command('uae')
    .addCommand(remoteSubmitCommand(io))
    .addCommand(remoteWatchCommand(io))
    .addCommand(remoteJobsCommand(io))
    .addCommand(remoteArtifactsCommand(io));
  applyConventions(program);
  const capture = (c: Command) => {
    c.configureOutput({ writeOut: (s) => (r.out += s) });
    c.commands.forEach(capture);
  };
  capture(program);
  try {
    await program.parseAsync(['node', 'uae', ...args]);
  } catch (e) {
    const { line, exitCode } = errorLine(e);
    if (line) r.err += `${line}\n`;
    r.code = exitCode;
  }
  return r;
}

beforeAll(async () => {
  fake = await startFakeServer();
  dir = await mkdtemp(join(tmpdir(), 'uae-cli-remote-'));
});

afterAll(async () => {
  await fake?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('uae submit', () => {
  it('maps the pipeline flags to a PipelineConfig', async () => {
    const r = await cli([
      'submit', '--dataset', 'mice-protein', '--model', 'concrete-ae', '--k', '10', '--methods', 'mine,ga-0.05,none',
      '--train-samples', '24', '--epochs', '2', '--retrain-epochs', '3', '--classifier-epochs', '0', '--iterations', '5',
      '--mine-steps', '1', '--mine-draws', '20', '--kappa', '0.5', '--seed', '7', '--shard-size', '8',
      '--request-id', 'flags-1', '--label', 'team=ml', '--label', 'run=a=b',
    ]);
    expect(r).toMatchObject({ code: 0, err: '' });
    const req = fake.sys.submits.at(-1)!.request;
    expect(r.out).toBe(`${fake.sys.jobs.size > 0 ? [...fake.sys.jobs.values()].at(-1)!.job.jobId : ''}\n`);
    expect(req.requestId).toBe('flags-1');
    expect(req.labels).toEqual({ team: 'ml', run: 'a=b' });
    const K = v1.AugmentationMethodKind;
    expect(req.config).toEqual(
      v1.PipelineConfig.fromPartial({
        dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 24, seed: 7 },
        model: { kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, selectedFeatures: 10 },
        methods: [{ kind: K.AUGMENTATION_METHOD_KIND_MINE }, { kind: K.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0.05 }, { kind: K.AUGMENTATION_METHOD_KIND_NONE }],
        train: { epochs: 2 },
        retrainEpochs: 3,
        skipDownstream: true,
        attack: {
          iterations: 5,
          mineSteps: 1,
          criterion: { kind: { $case: 'reconstruction', value: { kappa: 0.5 } } },
          similarity: { kind: { $case: 'mine', value: { sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 20 } } },
        },
        seed: 7,
        shardSize: 8,
        // The concrete AE's convergence loop is on unless --no-converge, as in `uae pipeline`.
        protocol: { convergence: { enabled: true } },
      }),
    );
    // Unset flags stay unset (the server's defaults = uae pipeline's).
    await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae']);
    const plain = fake.sys.submits.at(-1)!.request.config!;
    expect(plain.train).toBeUndefined();
    expect(plain.attack).toBeUndefined();
    expect(plain.methods.map((m) => m.kind)).toEqual([K.AUGMENTATION_METHOD_KIND_MINE, K.AUGMENTATION_METHOD_KIND_L2, K.AUGMENTATION_METHOD_KIND_GAUSSIAN, K.AUGMENTATION_METHOD_KIND_GAUSSIAN, K.AUGMENTATION_METHOD_KIND_REPEAT]);
    // --criterion loss: the model's own training loss, κ from --kappa (default 0).
    await cli(['submit', '--dataset', 'mice-protein', '--model', 'sparse-ae', '--criterion', 'loss', '--kappa', '0.25']);
    expect(fake.sys.submits.at(-1)!.request.config!.attack!.criterion).toEqual({ kind: { $case: 'loss', value: { kappa: 0.25 } } });
    await cli(['submit', '--dataset', 'mice-protein', '--model', 'sparse-ae', '--criterion', 'loss']);
    expect(fake.sys.submits.at(-1)!.request.config!.attack!.criterion).toEqual({ kind: { $case: 'loss', value: { kappa: 0 } } });
  });

  it('maps the study flags (seeds, protocol, the new arms, the δ update) to a PipelineConfig', async () => {
    const r = await cli([
      'submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--methods', 'mine,init-noise,mine-adam@0.05,cosine,noise-0.1,repeat',
      '--seeds', '2,3', '--validation', '0.2', '--patience', '4', '--retrain-schedule', 'plateau', '--probe', 'both', '--probe-train-samples', '100',
      '--delta-update', 'sign',
    ]);
    expect(r).toMatchObject({ code: 0, err: '' });
    const K = v1.AugmentationMethodKind;
    expect(fake.sys.submits.at(-1)!.request.config).toEqual(
      v1.PipelineConfig.fromPartial({
        dataset: { source: { $case: 'name', value: 'mice-protein' }, seed: 2 },
        model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE },
        methods: [
          { kind: K.AUGMENTATION_METHOD_KIND_MINE },
          { kind: K.AUGMENTATION_METHOD_KIND_INIT_NOISE },
          { kind: K.AUGMENTATION_METHOD_KIND_MINE, update: v1.DeltaUpdate.DELTA_UPDATE_ADAM, alpha: 0.05 },
          { kind: K.AUGMENTATION_METHOD_KIND_COSINE },
          { kind: K.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0.1 },
          { kind: K.AUGMENTATION_METHOD_KIND_REPEAT },
        ],
        attack: { update: v1.DeltaUpdate.DELTA_UPDATE_SIGN },
        seed: 2,
        seeds: [2, 3],
        protocol: {
          validation: { fraction: 0.2, patience: 4 },
          retrainSchedule: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU,
          probe: v1.ProbeKind.PROBE_KIND_BOTH,
          probeTrainSamples: 100,
        },
      }),
    );
    await cli(['submit', '--dataset', 'mice-protein', '--model', 'concrete-ae', '--no-converge']);
    expect(fake.sys.submits.at(-1)!.request.config!.protocol).toBeUndefined();
    await cli(['submit', '--dataset', 'mice-protein', '--model', 'concrete-ae', '--max-epochs', '64']);
    expect(fake.sys.submits.at(-1)!.request.config!.protocol!.convergence).toEqual({ enabled: true, maxEpochs: 64 });
    const n = fake.sys.submits.length;
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--retrain-schedule', 'plateau'])).err).toMatch(/plateau needs a validation split/);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--seeds', '1,1'])).err).toMatch(/--seeds lists a seed twice/);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--methods', 'mine,bogus'])).err).toMatch(/unknown method "bogus"/);
    expect(fake.sys.submits.length).toBe(n);
  });

  it('--model cnn-classifier --criterion cw: a supervised study (untargeted cw, the cnn layout)', async () => {
    const r = await cli(['submit', '--dataset', 'fashion-mnist', '--train-samples', '100', '--model', 'cnn-classifier', '--architecture', 'mnist', '--criterion', 'cw', '--kappa', '0.1', '--methods', 'mine,none']);
    expect(r).toMatchObject({ code: 0, err: '' });
    const cfg = fake.sys.submits.at(-1)!.request.config!;
    expect(cfg.model).toEqual(v1.ModelConfig.fromPartial({ kind: v1.ModelKind.MODEL_KIND_CNN_CLASSIFIER, architecture: v1.CnnArchitecture.CNN_ARCHITECTURE_MNIST }));
    expect(cfg.attack!.criterion).toEqual({ kind: { $case: 'cw', value: { kappa: 0.1, targeted: false } } });
    const n = fake.sys.submits.length;
    // A classifier has no reconstruction; cw needs a classifier; the layout is the cnn's.
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'mlp-classifier'])).err).toMatch(/--model mlp-classifier needs --criterion cw/);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--criterion', 'cw'])).err).toMatch(/--criterion cw needs a classifier/);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'mlp-classifier', '--criterion', 'cw', '--architecture', 'cifar'])).err).toMatch(/--architecture applies to --model cnn-classifier only/);
    expect(fake.sys.submits.length).toBe(n);
  });

  it('checks its arguments before connecting', async () => {
    const n = fake.sys.submits.length;
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'vae'])).err).toMatch(/--model must be one of dense-ae, .*; got "vae"/);
    expect((await cli(['submit', '--model', 'dense-ae'])).err).toMatch(/--dataset is required/);
    expect((await cli(['submit', '--dataset', 'x', '--model', 'dense-ae', '--methods', 'mine,ga-x'])).err).toMatch(/needs a positive sigma/);
    const clash = await cli(['submit', '--config', MICE, '--epochs', '3', '--model', 'dense-ae']);
    expect(clash).toMatchObject({ code: 2 });
    expect(clash.err).toMatch(/--config cannot be combined with the pipeline flags \(--model, --epochs\)|\(--epochs, --model\)/);
    expect((await cli(['submit', '--config', join(dir, 'missing.json')])).err).toMatch(/^uae: --config .*missing\.json: ENOENT/);
    expect(fake.sys.submits.length).toBe(n);
  });

  it("submits a `uae pipeline` run document (a run's config.json) with every setting explicit; refuses an empty or unknown one naming the field", async () => {
    const file = join(dir, 'run-config.json');
    // What `uae pipeline` records: the resolved document plus the tool and backend.
    const { parseRunConfig } = await import('../../libs/augment/run-config.js');
    const run = parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', hidden: 8, methods: ['mine', 'ga-0.05'], trainSamples: 24, epochs: 2, retrainEpochs: 3, seeds: [4, 5], attack: { iterations: 2 } });
    await writeFile(file, JSON.stringify({ ...run, tool: { name: 'uae', version: '0.1.0' }, backend: 'wasm' }));
    const r = await cli(['submit', '--config', file]);
    expect(r).toMatchObject({ code: 0, err: '' });
    const cfg = fake.sys.submits.at(-1)!.request.config!;
    const K = v1.AugmentationMethodKind;
    expect(cfg).toMatchObject({
      dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 24, seed: 4 },
      model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 8 },
      methods: [{ kind: K.AUGMENTATION_METHOD_KIND_MINE }, { kind: K.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0.05 }],
      train: { epochs: 2, batchSize: 100 },
      retrainEpochs: 3,
      downstream: { epochs: 50 },
      seed: 4,
      seeds: [4, 5],
      rounds: 1,
      protocol: { validation: { fraction: 0.1, patience: 10, seed: 4 }, retrainSchedule: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU, probe: v1.ProbeKind.PROBE_KIND_BOTH },
    });
    // The local defaults travel explicitly (the server's differ): MINE's learning rate, β, c0, traces.
    expect(cfg.attack).toMatchObject({ iterations: 2, mineSteps: 20, beta: 0.1, c0: 1e-3, trace: true, update: v1.DeltaUpdate.DELTA_UPDATE_GRADIENT });
    expect(cfg.attack?.similarity?.kind).toEqual({ $case: 'mine', value: expect.objectContaining({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 500, learningRate: 1.5e-5 }) });

    const n = fake.sys.submits.length;
    const write = async (name: string, doc: unknown) => {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(doc));
      return path;
    };
    expect((await cli(['submit', '--config', await write('empty.json', {})])).err).toMatch(/^uae: --config .*empty\.json: empty document: dataset and model are required\n$/);
    expect((await cli(['submit', '--config', await write('typo.json', { dataset: 'mice-protein', model: 'dense-ae', epoch: 2 })])).err).toMatch(/^uae: --config .*typo\.json: epoch: unknown field\n$/);
    expect((await cli(['submit', '--config', await write('local.json', { dataset: 'mice-protein', model: 'dense-ae', dataDir: '/data' })])).err).toMatch(/dataDir: a directory on this machine/);
    // Rounds must be integers ≥ 1, named when they are not.
    for (const rounds of [0, 1.5]) {
      expect((await cli(['submit', '--config', await write('bad-rounds.json', { dataset: 'mice-protein', model: 'dense-ae', rounds })])).err).toMatch(/^uae: --config .*bad-rounds\.json: .*rounds: /);
    }
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--rounds', '0'])).err).toMatch(/--rounds must be an integer ≥ 1/);
    // A PipelineConfig with a field the contract lacks, or without a dataset, is refused too (it used to be read as empty).
    expect((await cli(['submit', '--config', await write('proto-typo.json', { dataset: { name: 'mice-protein' }, modell: {} })])).err).toMatch(/^uae: --config .*proto-typo\.json: key "modell" is unknown/);
    expect((await cli(['submit', '--config', await write('no-data.json', { model: { kind: 'MODEL_KIND_DENSE_AE' } })])).err).toMatch(/^uae: --config .*no-data\.json: dataset: required/);
    expect(fake.sys.submits.length).toBe(n);
    // Several rounds travel to the cluster (JobService runs them), from a run document and from --rounds.
    expect((await cli(['submit', '--config', await write('rounds.json', { dataset: 'mice-protein', model: 'dense-ae', rounds: 2 })])).code).toBe(0);
    expect(fake.sys.submits.at(-1)!.request.config!.rounds).toBe(2);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--rounds', '3'])).code).toBe(0);
    expect(fake.sys.submits.at(-1)!.request.config!.rounds).toBe(3);
    expect((await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae'])).code).toBe(0);
    expect(fake.sys.submits.at(-1)!.request.config!.rounds).toBeUndefined();
  });

  it('submits a --config file and --watch prints the metrics table', async () => {
    const r = await cli(['submit', '--config', MICE, '--watch', '--interval', '0']);
    expect(r.code).toBe(0);
    const cfg = fake.sys.submits.at(-1)!.request.config!;
    expect(cfg).toMatchObject({ dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 24, testSamples: 24 }, model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE }, retrainEpochs: 2 });
    expect(cfg.attack?.similarity?.kind).toEqual({ $case: 'mine', value: expect.objectContaining({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 20 }) });
    expect(r.err).toMatch(/^submitted job job-\d+\n/);
    expect(r.err).toMatch(/\[2\/4\] generate mine\n/);
    expect(r.err).toMatch(/\[2\/4\] generate mine: 10\/10 samples \(100\.0%\), 50\.00 samples\/s, ASR 90\.00%, ETA 0s/);
    expect(r.err).toMatch(/\[4\/4\] evaluate\n/);
    expect(r.err).toMatch(/job job-\d+ SUCCEEDED in \d+s/);
    expect(r.out).toMatch(/^mice-protein, dense-ae, backend wasm, seed 0: 10 train \/ 8 test samples/);
    expect(r.out).toMatch(/original.*0\.01230/);
    expect(r.out).toMatch(/mine.*0\.01100.*10\.57%.*80\.00%.*62\.50%.*0\.020/);
  });

  it('takes a SubmitPipelineRequest file (request id, labels) and is idempotent', async () => {
    const file = join(dir, 'request.json');
    const config = JSON.parse(await readFile(MICE, 'utf8'));
    await writeFile(file, JSON.stringify({ config, requestId: 'file-req', labels: { from: 'file' } }));
    const a = await cli(['submit', '--config', file, '--label', 'extra=1']);
    const b = await cli(['submit', '--config', file, '--label', 'extra=1', '--json']);
    expect(a.code).toBe(0);
    expect(fake.sys.submits.at(-1)!.request.labels).toEqual({ from: 'file', extra: '1' });
    expect(JSON.parse(b.out)).toMatchObject({ job: { jobId: a.out.trim(), requestId: 'file-req' }, deduplicated: true });
  });

  it('--upload sends npy:DIR as artifacts and submits them by reference', async () => {
    const data = join(dir, 'npy');
    await mkdir(data);
    await writeFile(join(data, 'x_train.npy'), Buffer.alloc(3000, 1));
    await writeFile(join(data, 'x_test.npy'), Buffer.alloc(2000, 2));
    await writeFile(join(data, 'y_train.npy'), Buffer.alloc(100, 3));
    const r = await cli(['submit', '--dataset', `npy:${data}`, '--upload', '--model', 'dense-ae', '--methods', 'repeat']);
    expect(r.code).toBe(0);
    expect(r.err.match(/^uploaded /gm)).toHaveLength(3);
    // --quiet: the job id on stdout, no notes.
    const quiet = await cli(['submit', '--dataset', `npy:${data}`, '--upload', '--model', 'dense-ae', '--methods', 'repeat', '--quiet']);
    expect(quiet).toMatchObject({ code: 0, err: '' });
    expect(quiet.out).toMatch(/^\S+\n$/);
    const src = fake.sys.submits.at(-1)!.request.config!.dataset!.source!;
    expect(src.$case).toBe('npy');
    const npy = src.value as v1.NpyDataset;
    expect(npy.xTrain).toMatchObject({ sizeBytes: 3000, mediaType: 'application/x-npy', name: 'x_train.npy' });
    expect(npy.xTest?.sizeBytes).toBe(2000);
    expect(npy.yTest).toBeUndefined();
    expect(fake.sys.artifacts.has(npy.yTrain!.sha256)).toBe(true);
  });
});

describe('uae watch', () => {
  it('exits 1 with the reason when the job fails', async () => {
    const id = (await cli(['submit', '--dataset', 'fail', '--model', 'dense-ae'])).out.trim();
    const r = await cli(['watch', id, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`job ${id} FAILED in stage "generate mine" in \\d+s: INTERNAL: attack worker crashed \\(ref 0123abcd\\)\\n$`));
    expect(r.err).not.toMatch(/samples\/s/);
  });

  it('exits 1 when the job is cancelled (uae jobs cancel)', async () => {
    const id = (await cli(['submit', '--dataset', 'hang', '--model', 'dense-ae'])).out.trim();
    const watching = cli(['watch', id]);
    for (let i = 0; i < 300 && fake.sys.jobs.get(id)!.job.stage?.name !== 'generate mine'; i++) await new Promise((r) => setTimeout(r, 10));
    const c = await cli(['jobs', 'cancel', id, '--reason', 'stop it']);
    expect(c.out).toBe(`${id} CANCELLED ([2/4] generate mine)\n`);
    const r = await watching;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`job ${id} CANCELLED in stage "generate mine".*: CANCELLED: stop it\\n$`));
  });

  it('--json prints the final record; a terminal job returns at once; TTY mode draws bars', async () => {
    const id = (await cli(['submit', '--config', MICE])).out.trim();
    const r = await cli(['watch', id, '--json']);
    expect(r).toMatchObject({ code: 0, err: '' });
    const job = JSON.parse(r.out);
    expect(job).toMatchObject({ jobId: id, state: 'JOB_STATE_SUCCEEDED', result: { pipeline: { metrics: { dataset: 'mice-protein' } } } });
    const again = await cli(['watch', id]);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/: SUCCEEDED, \[4\/4\] evaluate\n/);
    const tty = await cli(['submit', '--config', MICE, '--watch'], {}, true);
    expect(tty.code).toBe(0);
    expect(tty.out).toMatch(/mine/);
  });

  it('--format: the results as CSV or Markdown on stdout alone, json the result document (the schema of metrics.json)', async () => {
    const id = (await cli(['submit', '--config', MICE])).out.trim();
    const csv = await cli(['watch', id, '--format', 'csv']);
    expect(csv.code).toBe(0);
    expect(csv.out).toBe(
      'method,test recon error,improvement,ASR,acc (MLP),acc (ExtraTrees),steps,s/sample\noriginal,0.01230,,,50.00%,,,\nmine,0.01100,10.57%,80.00%,62.50%,,,0.020\n',
    );
    expect(csv.err).toMatch(/SUCCEEDED/);
    expect((await cli(['jobs', 'get', id, '--format', 'md'])).out).toMatch(/^### Results\n\n\| method \| test recon error \|.*\n\|---\|/);
    const doc = JSON.parse((await cli(['jobs', 'get', id, '--format', 'json'])).out);
    expect(doc).toMatchObject({ schema_version: 1, tool: { name: 'uae', version: '0.1.0' }, job_id: id, model: 'dense-ae', train_samples: 10 });
    expect(doc.methods.mine).toMatchObject({ test_recon_error: 0.011, improvement: 0.1057, mi: { mean: 1, count: 8 } });
    expect(Date.parse(doc.finished_at)).toBeGreaterThanOrEqual(Date.parse(doc.started_at));
    const failedId = (await cli(['submit', '--dataset', 'fail', '--model', 'dense-ae'])).out.trim();
    expect((await cli(['watch', failedId])).code).toBe(1);
    const noDoc = await cli(['jobs', 'get', failedId, '--format', 'json']);
    expect(noDoc).toMatchObject({ code: 2, out: '' });
    expect(noDoc.err).toMatch(/^uae: --format json: job \S+ is FAILED, and only a SUCCEEDED pipeline has a result document\n$/);
  });

  it('reports unknown jobs, missing tokens and unreachable servers as errors (exit 2)', async () => {
    expect(await cli(['watch', 'nope'])).toMatchObject({ code: 2, err: 'uae: NOT_FOUND: job_id: job "nope" not found\n' });
    const anon = await cli(['jobs'], { UAE_AUTH_TOKEN: undefined });
    expect(anon.code).toBe(2);
    expect(anon.err).toMatch(/^uae: UNAUTHENTICATED: missing "authorization" metadata/);
    // --server wins over UAE_SERVER; --token over UAE_AUTH_TOKEN.
    expect((await cli(['jobs', '--server', fake.address, '--token', FAKE_TOKEN], { UAE_SERVER: '127.0.0.1:1', UAE_AUTH_TOKEN: 'bad' })).code).toBe(0);
    expect((await cli(['jobs'], { UAE_SERVER: '127.0.0.1:1' })).err).toMatch(/^uae: UNAVAILABLE: /);
  });
});

describe('uae jobs', () => {
  it('lists as a table or JSON, filters, and gets one job', async () => {
    fake.sys.addJob({ jobId: 'listed-run', state: v1.JobState.JOB_STATE_RUNNING, labels: { cli: 'list' }, stage: { kind: v1.StageKind.STAGE_KIND_GENERATE, method: 'mine', name: 'generate mine', index: 1, count: 4 }, progress: v1.Progress.fromPartial({ samplesDone: 3, samplesTotal: 9 }) });
    fake.sys.addJob({ jobId: 'listed-attack', kind: v1.JobKind.JOB_KIND_ATTACK, state: v1.JobState.JOB_STATE_QUEUED, labels: { cli: 'list' } });
    const table = await cli(['jobs', '--label', 'cli=list']);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+STATE\s+STAGE\s+PROGRESS\s+CREATED\s+LABELS$/);
    expect(lines[1]).toMatch(/^listed-attack\s+attack\s+QUEUED\s+\S+Z\s+cli=list$/);
    expect(lines[2]).toMatch(/^listed-run\s+pipeline\s+RUNNING\s+\[2\/4\] generate mine\s+3\/9 samples\s+\S+Z\s+cli=list$/);
    const json = JSON.parse((await cli(['jobs', '--state', 'running', '--label', 'cli=list', '--json'])).out);
    expect(json.map((j: { jobId: string }) => j.jobId)).toEqual(['listed-run']);
    expect(JSON.parse((await cli(['jobs', '--kind', 'attack', '--label', 'cli=list', '--json'])).out)).toHaveLength(1);
    expect(JSON.parse((await cli(['jobs', '--limit', '1', '--json'])).out)).toHaveLength(1);
    expect((await cli(['jobs', '--label', 'cli=none'])).err).toBe('no jobs\n');
    expect((await cli(['jobs', '--state', 'sleeping'])).err).toMatch(/unknown job state "sleeping"/);
    const got = await cli(['jobs', 'get', 'listed-run']);
    expect(got.out).toMatch(/listed-run\s+pipeline\s+RUNNING/);
    expect(JSON.parse((await cli(['jobs', 'get', 'listed-run', '--json'])).out)).toMatchObject({ jobId: 'listed-run', state: 'JOB_STATE_RUNNING' });
    expect((await cli(['jobs', 'cancel', 'nope'])).err).toBe('uae: NOT_FOUND: job_id: job "nope" not found\n');
  });

  it('--quiet on get and cancel silences their notes (no result yet; already ended)', async () => {
    fake.sys.addJob({ jobId: 'quiet-run', state: v1.JobState.JOB_STATE_RUNNING, labels: { cli: 'quiet' } });
    fake.sys.addJob({ jobId: 'quiet-done', state: v1.JobState.JOB_STATE_FAILED, labels: { cli: 'quiet' } });
    const loud = await cli(['jobs', 'get', 'quiet-run']);
    expect(loud.err).toBe('job quiet-run is RUNNING: no result yet (uae watch quiet-run follows it)\n');
    expect(await cli(['jobs', 'get', 'quiet-run', '--quiet'])).toEqual({ ...loud, err: '' });
    expect((await cli(['jobs', 'get', 'quiet-run', '--format', 'md', '--quiet'])).err).toBe('');
    expect((await cli(['jobs', 'get', 'quiet-done'])).err).toBe('');
    const ended = await cli(['jobs', 'cancel', 'quiet-done']);
    expect(ended).toMatchObject({ code: 0, out: 'quiet-done FAILED\n', err: 'job quiet-done had already ended FAILED; left as it is\n' });
    expect(await cli(['jobs', 'cancel', 'quiet-done', '--quiet'])).toEqual({ ...ended, err: '' });
  });
});

describe('uae artifacts', () => {
  it('puts, stats and gets a file by its sha256', async () => {
    const file = join(dir, 'data.npy');
    const data = Buffer.alloc(1024 * 1024 + 17, 5);
    await writeFile(file, data);
    const put = await cli(['artifacts', 'put', 'train-x', file]);
    expect(put.code).toBe(0);
    const sha = put.out.trim();
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(put.err).toMatch(/^uploaded train-x: 1\.0 MiB application\/x-npy in/);
    expect(fake.sys.uploads.at(-1)!.chunkSizes).toEqual([1024 * 1024, 17]);
    expect((await cli(['artifacts', 'put', 'other', file, '--media-type', 'application/octet-stream'])).err).toMatch(/^already stored/);
    const stat = await cli(['artifacts', 'stat', `sha256:${sha}`]);
    expect(stat.out).toMatch(new RegExp(`sha256\\s+${sha}\\nsize\\s+1048593 bytes\\nmedia type\\s+application/x-npy\\nname\\s+train-x\\ncreated\\s+\\d{4}-`));
    expect(JSON.parse((await cli(['artifacts', 'stat', sha, '--json'])).out)).toMatchObject({ ref: { sha256: sha, name: 'train-x' } });
    const out = join(dir, 'back.npy');
    expect((await cli(['artifacts', 'get', sha, out])).code).toBe(0);
    expect((await readFile(out)).equals(data)).toBe(true);
    expect((await cli(['artifacts', 'get', 'abc', out])).err).toMatch(/artifact key must be a SHA-256/);
    expect((await cli(['artifacts', 'stat', 'f'.repeat(64)])).err).toMatch(/^uae: NOT_FOUND: sha256: artifact f+ not found/);
    // --quiet is accepted (stat has no notes to silence: the same output).
    expect(await cli(['artifacts', 'stat', sha, '--quiet'])).toEqual(stat);
  });
});

describe('bin/uae.mjs', () => {
  const run = promisify(execFile);
  const uae = (args: string[]) =>
    run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, UAE_SERVER: fake.address, UAE_AUTH_TOKEN: FAKE_TOKEN },
    }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('runs the remote subcommands (registered in cli/uae.ts; UAE_SERVER, UAE_AUTH_TOKEN; exit code 1 for a failed job)', async () => {
    // One process: starting the CLI loads tfjs for the local subcommands (seconds on 2 cores).
    const failed = (await cli(['submit', '--dataset', 'fail', '--model', 'dense-ae'])).out.trim();
    const bad = await uae(['watch', failed]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/\[2\/4\] generate mine\n/);
    expect(bad.stderr).toMatch(/FAILED in stage "generate mine".*INTERNAL: attack worker crashed/);
  });
});
