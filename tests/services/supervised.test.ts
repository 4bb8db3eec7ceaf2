/**
 * Supervised models end to end through the real services on a private
 * nats-server (startCluster): TrainingService trains an mlp-classifier and a
 * PGD-adversarially trained cnn-classifier whose stored model.json +
 * weights.bin load with libs/models loadClassifier and score the reported
 * test accuracy; AttackService attacks them with the Carlini–Wagner criterion
 * (Generate: untargeted with inline true labels, targeted with target_class;
 * Submit: the test split's true labels, over two shards), each sample's
 * success agreeing with the classifier's own prediction on the returned x′;
 * EvaluationService reports the accuracy and the attack's ASR; a supervised
 * JobService pipeline (train → cw examples → retrain on original ∪ examples,
 * labels kept → test accuracy) completes — for the mlp and the cnn, and with
 * the same numbers when the orchestrator trains and evaluates in its own
 * process; bad inputs are INVALID_ARGUMENT naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { resultDocumentFromJob } from '../../libs/results/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromProtoTensor, toProtoTensor, v1 } from '../../libs/proto/index.js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { encodeNpy, loadDataset, type Dataset } from '../../libs/data/index.js';
import { createAutoencoder, loadClassifier, type Classifier } from '../../libs/models/index.js';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { casKey, MEDIA_TYPES, putContent } from '../../services/common/artifacts.js';
import { putModelArtifacts } from '../../services/common/models.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { REPO_ROOT, startServiceProcess, unary, unaryError } from '../helpers/services.js';
import { collectGenerate, expectGenerateError, getNpy, getSampleResults, tinyAttackConfig } from './attack-helpers.js';
import { CLUSTER_ENV, startCluster, waitTerminal, type Cluster } from './orchestrator-helpers.js';

const { JobState, ModelKind } = v1;
const INVALID_ARGUMENT = 3;

/** Mice Protein subset of the mlp-classifier (8 classes, 77 features). */
const MICE = { name: 'mice-protein', trainSamples: 200, testSamples: 40, seed: 2 };
const miceConfig = (): v1.DatasetConfig => v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: MICE.name }, trainSamples: MICE.trainSamples, testSamples: MICE.testSamples, seed: MICE.seed });

/** 16×16×1 images of two classes: a bright upper half (0) or lower half (1), with seeded noise. */
function halves(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 256);
  const y = new Int32Array(n);
  let s = seed * 2654435761 + 1;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let p = 0; p < 256; p++) {
      const upper = p < 128;
      x[i * 256 + p] = Math.min(1, Math.max(0, ((upper ? y[i] === 0 : y[i] === 1) ? 0.8 : 0.2) + (rand() - 0.5) * 0.3));
    }
  }
  return { x, y };
}

/** Cw's verdict from the logits: untargeted success ⇔ the prediction left the true class; targeted ⇔ it is the target. */
async function predictions(clf: Classifier, results: v1.SampleResult[], shape: number[]): Promise<Int32Array> {
  const d = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(results.length * d);
  results.forEach((r, i) => data.set(fromProtoTensor(r.xAdv, { field: 'x_adv', dtype: v1.DataType.DATA_TYPE_FLOAT32 }).data as Float32Array, i * d));
  const x = tf.tensor(data, [results.length, ...shape]);
  try {
    return await clf.predict(x);
  } finally {
    x.dispose();
  }
}

describe.skipIf(!natsServerAvailable())('supervised models through the services', () => {
  let cluster: Cluster;
  let bus: NatsBus;
  let mice: Dataset;
  let dir: string;
  let mlp: { modelId: string; testAccuracy: number; clf: Classifier };
  let cnn: { modelId: string; testAccuracy: number; clf: Classifier };
  let images: { cfg: v1.DatasetConfig; test: { x: Float32Array; y: Int32Array } };

  const training = () => cluster.trainer.client(v1.TrainingServiceClient);
  const attacks = () => cluster.attack.client(v1.AttackServiceClient);
  const evaluation = () => cluster.evaluator.client(v1.EvaluationServiceClient);

  /** Trains through TrainingService, follows the job to its end, and loads the stored artifacts with loadClassifier. */
  async function trainClassifier(spec: v1.TrainingJobSpec, name: string) {
    const res = await unary<v1.TrainResponse>(training(), 'train', v1.TrainRequest.fromPartial({ requestId: name, spec }), cluster.trainer.metadata());
    const job = await waitTerminal(cluster.jobsClient(), res.job!.jobId, cluster.orchestrator.metadata(), 60_000);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'training' ? job.result.kind.value : undefined;
    expect(result?.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(result?.testReconError).toBeUndefined();
    // model.json + weights.bin, side by side in a folder, are what saveClassifier writes.
    const folder = join(dir, name);
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'model.json'), await bus.artifacts.get(casKey(result!.artifacts!.modelJson!.sha256)));
    await writeFile(join(folder, 'weights.bin'), await bus.artifacts.get(casKey(result!.artifacts!.weights!.sha256)));
    const { classifier, info } = await loadClassifier(folder);
    expect(info.test_accuracy).toBe(result!.testAccuracy);
    return { modelId: res.modelId, testAccuracy: result!.testAccuracy!, clf: classifier };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-supervised-'));
    [cluster] = await Promise.all([startCluster(), initBackend('wasm')]);
    bus = await connectBus({ servers: cluster.nats.url, name: 'supervised-test' });
    mice = await loadDataset(MICE.name, MICE);
    const train = halves(64, 1);
    const test = halves(32, 2);
    const npy = (shape: number[], data: Float32Array | Int32Array, name: string) => putContent(bus.artifacts, encodeNpy(shape, data), { mediaType: MEDIA_TYPES.npy, name });
    images = {
      cfg: v1.DatasetConfig.fromPartial({
        source: {
          $case: 'npy',
          value: { xTrain: await npy([64, 16, 16, 1], train.x, 'x_train.npy'), yTrain: await npy([64], train.y, 'y_train.npy'), xTest: await npy([32, 16, 16, 1], test.x, 'x_test.npy'), yTest: await npy([32], test.y, 'y_test.npy') },
        },
      }),
      test,
    };
  }, 120_000);

  afterAll(async () => {
    mlp?.clf.dispose();
    cnn?.clf.dispose();
    await bus?.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('TrainingService trains an mlp-classifier; its stored model loads with loadClassifier and scores the reported test accuracy', async () => {
    mlp = await trainClassifier(
      v1.TrainingJobSpec.fromPartial({ dataset: miceConfig(), model: { kind: ModelKind.MODEL_KIND_MLP_CLASSIFIER, hidden: 32, seed: 1, learningRate: 0.01 }, config: { epochs: 20, batchSize: 20, seed: 1 } }),
      'mlp-1',
    );
    expect(mlp.clf.kind).toBe('mlp-classifier');
    expect(mlp.clf.classes).toBe(8);
    // Well above chance (1/8) on the test split, and exactly what the loaded model scores.
    expect(mlp.testAccuracy).toBeGreaterThan(0.3);
    const x = tf.tensor(mice.test.x, [mice.test.n, 77]);
    try {
      expect(await mlp.clf.accuracy(x, mice.test.labels!)).toBe(mlp.testAccuracy);
    } finally {
      x.dispose();
    }
    const record = await unary<v1.GetModelResponse>(training(), 'getModel', { modelId: mlp.modelId }, cluster.trainer.metadata());
    expect(record.model!.testAccuracy).toBe(mlp.testAccuracy);
    expect(record.model!.artifacts!.kind).toBe(ModelKind.MODEL_KIND_MLP_CLASSIFIER);
  }, 60_000);

  it('TrainingService trains a cnn-classifier (mnist layout, PGD adversarial training) on uploaded images', async () => {
    cnn = await trainClassifier(
      v1.TrainingJobSpec.fromPartial({
        dataset: images.cfg,
        model: { kind: ModelKind.MODEL_KIND_CNN_CLASSIFIER, architecture: v1.CnnArchitecture.CNN_ARCHITECTURE_MNIST, seed: 3 },
        config: { epochs: 2, batchSize: 16, seed: 3, adversarial: { epsilon: 0.05, steps: 2 } },
      }),
      'cnn-1',
    );
    expect(cnn.clf.kind).toBe('cnn-classifier');
    expect(cnn.clf.inputShape).toEqual([16, 16, 1]);
    expect(cnn.clf.firstConv).toBeDefined();
    const x = tf.tensor(images.test.x, [32, 16, 16, 1]);
    try {
      expect(await cnn.clf.accuracy(x, images.test.y)).toBe(cnn.testAccuracy);
    } finally {
      x.dispose();
    }
  }, 60_000);

  it('Generate attacks the mlp-classifier with cw: untargeted (true labels) and targeted (target_class); success agrees with the prediction on x′', async () => {
    const n = 8;
    const x = mice.test.x.subarray(0, n * 77);
    const labels = [...mice.test.labels!.subarray(0, n)];
    const config = (targeted: boolean) =>
      tinyAttackConfig({ iterations: 8, mineSteps: 1, alpha: 0.2, criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted } } } });
    const base = { model: { source: { $case: 'modelId' as const, value: mlp.modelId } }, x: toProtoTensor(x, [n, 77], 'x') };

    const untargeted = await collectGenerate(attacks(), v1.GenerateRequest.fromPartial({ ...base, config: config(false), labels }), cluster.attack.metadata());
    expect(untargeted.results).toHaveLength(n);
    const byIndex = [...untargeted.results].sort((a, b) => a.index - b.index);
    const predicted = await predictions(mlp.clf, byIndex, [77]);
    // f is cw's margin at the returned x′: f ≤ 0 exactly when the classifier no longer predicts the true
    // class; a success has f ≤ 0 (a failure's fallback x′ may too, when no eligible iterate beat it).
    byIndex.forEach((r, i) => {
      expect(r.f <= 0, `sample ${i}`).toBe(predicted[i] !== labels[i]);
      if (r.success) {
        expect(predicted[i], `sample ${i}`).not.toBe(labels[i]);
        expect(Number.isFinite(r.similarity)).toBe(true);
      }
    });
    expect(untargeted.summary!.succeeded).toBe(byIndex.filter((r) => r.success).length);
    expect(untargeted.summary!.succeeded).toBeGreaterThan(0);

    const target = 5;
    const targeted = await collectGenerate(attacks(), v1.GenerateRequest.fromPartial({ ...base, config: config(true), targetClass: target }), cluster.attack.metadata());
    const t = [...targeted.results].sort((a, b) => a.index - b.index);
    const tp = await predictions(mlp.clf, t, [77]);
    t.forEach((r, i) => {
      expect(r.f <= 0, `sample ${i}`).toBe(tp[i] === target);
      if (r.success) expect(tp[i], `sample ${i}`).toBe(target);
    });
  }, 60_000);

  it('Submit attacks the cnn-classifier over the test split with its true labels (two shards); Evaluate reports accuracy and the ASR', async () => {
    const spec = v1.AttackJobSpec.fromPartial({
      model: { source: { $case: 'modelId', value: cnn.modelId } },
      dataset: images.cfg,
      split: v1.DatasetSplit.DATASET_SPLIT_TEST,
      config: tinyAttackConfig({ iterations: 6, mineSteps: 1, alpha: 0.2, criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted: false } } } }),
      shardSize: 16,
    });
    const res = await unary<v1.SubmitResponse>(attacks(), 'submit', v1.SubmitRequest.fromPartial({ requestId: 'cnn-cw', spec }), cluster.attack.metadata());
    const job = await waitTerminal(cluster.jobsClient(), res.job!.jobId, cluster.orchestrator.metadata(), 60_000);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'attack' ? job.result.kind.value : undefined;
    expect(result!.samples).toBe(32);
    const rows = await getSampleResults(bus.artifacts, result!.results);
    const xAdv = (await getNpy(bus.artifacts, result!.xAdv)).data as Float32Array;
    const x = tf.tensor(xAdv, [32, 16, 16, 1]);
    const predicted = await cnn.clf.predict(x);
    x.dispose();
    rows.forEach((r, i) => {
      expect(r.f <= 0, `sample ${r.sampleId}`).toBe(predicted[i] !== images.test.y[r.sampleId]);
      if (r.success) expect(predicted[i], `sample ${r.sampleId}`).not.toBe(images.test.y[r.sampleId]);
    });

    const ev = await unary<v1.EvaluateResponse>(
      evaluation(),
      'evaluate',
      v1.EvaluateRequest.fromPartial({ model: { source: { $case: 'modelId', value: cnn.modelId } }, dataset: images.cfg, attackResults: result!.results }),
      cluster.evaluator.metadata(),
    );
    expect(ev.metrics!.accuracy).toBe(cnn.testAccuracy);
    expect(ev.metrics!.asr).toBe(result!.asr);
    expect(ev.metrics!.testReconError).toBeUndefined();
    expect(ev.metrics!.samples).toBe(32);

    // Generate, targeted with a target per sample; the MINE similarity left unset uses the conv sampler on the cnn's first conv layer.
    const targets = [1, 0, 1, 0];
    const gen = await collectGenerate(
      attacks(),
      v1.GenerateRequest.fromPartial({
        model: { source: { $case: 'modelId', value: cnn.modelId } },
        x: toProtoTensor(images.test.x.subarray(0, 4 * 256), [4, 16, 16, 1], 'x'),
        config: { iterations: 3, mineSteps: 1, alpha: 0.2, seed: 1, criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted: true } } } },
        labels: targets,
      }),
      cluster.attack.metadata(),
    );
    const g = [...gen.results].sort((a, b) => a.index - b.index);
    const gp = await predictions(cnn.clf, g, [16, 16, 1]);
    g.forEach((r, i) => expect(r.f <= 0, `sample ${i}`).toBe(gp[i] === targets[i]));
  }, 60_000);

  it('bad supervised inputs are INVALID_ARGUMENT naming the field', async () => {
    const md = cluster.attack.metadata();
    const cw = (targeted: boolean) => tinyAttackConfig({ criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted } } } });
    const x = toProtoTensor(new Float32Array(2 * 77), [2, 77], 'x');
    const mlpRef = { source: { $case: 'modelId' as const, value: mlp.modelId } };
    const cases: Array<[v1.GenerateRequest, string]> = [
      [v1.GenerateRequest.fromPartial({ model: mlpRef, x, config: cw(true), targetClass: 8 }), 'target_class'],
      [v1.GenerateRequest.fromPartial({ model: mlpRef, x, config: cw(false) }), 'labels'],
      [v1.GenerateRequest.fromPartial({ model: mlpRef, x, config: cw(false), labels: [0, 9] }), 'labels[1]'],
      [v1.GenerateRequest.fromPartial({ model: mlpRef, x, config: tinyAttackConfig({ criterion: { kind: { $case: 'reconstruction', value: { kappa: 0 } } } }), labels: [0, 1] }), 'config.criterion.reconstruction'],
    ];
    // An autoencoder (inline artifacts) with the cw criterion.
    const ae = createAutoencoder('dense-ae', [77], { hidden: 4, seed: 1 });
    const aeRef = { source: { $case: 'artifacts' as const, value: await putModelArtifacts(bus.artifacts, ae) } };
    ae.dispose();
    cases.push([v1.GenerateRequest.fromPartial({ model: aeRef, x, config: cw(false), labels: [0, 1] }), 'config.criterion.cw']);
    for (const [req, field] of cases) {
      const e = await expectGenerateError(attacks(), req, md);
      expect([e.code, e.field], field).toEqual([INVALID_ARGUMENT, field]);
      expect(e.details).toContain(field);
    }
    // A classifier's loss criterion takes its labels: accepted.
    const loss = await collectGenerate(attacks(), v1.GenerateRequest.fromPartial({ model: mlpRef, x, config: tinyAttackConfig({ iterations: 1, criterion: { kind: { $case: 'loss', value: { kappa: 0 } } } }), labels: [0, 1] }), md);
    expect(loss.results).toHaveLength(2);

    // Per-sample targets of the wrong length.
    const spec = v1.AttackJobSpec.fromPartial({ model: { source: { $case: 'modelId', value: cnn.modelId } }, dataset: images.cfg, split: v1.DatasetSplit.DATASET_SPLIT_TEST, config: cw(true), targetLabels: [1, 0, 1] });
    const e = await unaryError(attacks(), 'submit', v1.SubmitRequest.fromPartial({ spec }), md);
    expect([e.code, e.field]).toEqual([INVALID_ARGUMENT, 'spec.target_labels']);

    // A classifier on a dataset without labels.
    const unlabelled = v1.DatasetConfig.fromPartial({ source: { $case: 'npy', value: { xTrain: images.cfg.source!.$case === 'npy' ? images.cfg.source!.value.xTrain : undefined, xTest: images.cfg.source!.$case === 'npy' ? images.cfg.source!.value.xTest : undefined } } });
    const t = await unaryError(
      training(),
      'train',
      v1.TrainRequest.fromPartial({ spec: { dataset: unlabelled, model: { kind: ModelKind.MODEL_KIND_CNN_CLASSIFIER }, config: { epochs: 1 } } }),
      cluster.trainer.metadata(),
    );
    expect([t.code, t.field]).toEqual([INVALID_ARGUMENT, 'spec.dataset.npy.y_train']);
    // A cnn-classifier on tabular data: the job fails with INVALID_ARGUMENT naming the dataset.
    const tab = await unary<v1.TrainResponse>(
      training(),
      'train',
      v1.TrainRequest.fromPartial({ spec: { dataset: miceConfig(), model: { kind: ModelKind.MODEL_KIND_CNN_CLASSIFIER }, config: { epochs: 1 } } }),
      cluster.trainer.metadata(),
    );
    const failed = await waitTerminal(cluster.jobsClient(), tab.job!.jobId, cluster.orchestrator.metadata(), 30_000);
    expect(failed.state).toBe(JobState.JOB_STATE_FAILED);
    expect(failed.error!.code).toBe(INVALID_ARGUMENT);
    expect(failed.error!.message).toMatch(/^spec\.dataset: cnn-classifier needs image inputs/);
  }, 60_000);

  const supervisedStudy = () =>
    v1.PipelineConfig.fromPartial({
      dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 24, testSamples: 16, seed: 1 },
      model: { kind: ModelKind.MODEL_KIND_MLP_CLASSIFIER, hidden: 16 },
      methods: [{ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_MINE }, { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_NONE }],
      train: { epochs: 3, batchSize: 8 },
      retrainEpochs: 2,
      attack: { ...tinyAttackConfig({ iterations: 3, mineSteps: 1 }), criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted: false } } } },
      seed: 4,
      shardSize: 12,
    });
  let supervisedMetrics: v1.PipelineMetrics | undefined;

  it('a supervised job (mlp-classifier, cw) completes through JobService with accuracy as its metric', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const config = supervisedStudy();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'sup-1', config }), meta);
    const job = await waitTerminal(client, res.job!.jobId, meta, 90_000);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    const m = result!.metrics!;
    supervisedMetrics = m;
    expect(m.model).toBe(ModelKind.MODEL_KIND_MLP_CLASSIFIER);
    for (const arm of ['original', 'mine', 'none']) {
      expect(m.methods[arm]!.accuracy, arm).toBeGreaterThanOrEqual(0);
      expect(m.methods[arm]!.accuracy, arm).toBeLessThanOrEqual(1);
      expect(Number.isNaN(m.methods[arm]!.testReconError), arm).toBe(true);
    }
    expect(m.methods.mine!.asr).toBeGreaterThanOrEqual(0);
    // Its result document (`uae jobs get --format json`) is one of docs/results.schema.json, accuracy its metric.
    const schema = JSON.parse(await readFile(join(REPO_ROOT, 'docs/results.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    const doc = resultDocumentFromJob(job);
    expect(validate(doc) ? [] : validate.errors).toEqual([]);
    expect(doc.model).toBe('mlp-classifier');
    // The retrained models are classifiers, and the mine arm retrained on original ∪ generated (48 rows, labels kept).
    expect(result!.models.mine!.kind).toBe(ModelKind.MODEL_KIND_MLP_CLASSIFIER);
    expect(result!.generated.mine!.attack!.samples).toBe(24);
    // The retraining jobs' data: original ∪ generated with the labels kept (y_train twice for mine, once for none).
    const list = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ kind: v1.JobKind.JOB_KIND_TRAINING, labels: { 'uae-pipeline': job.jobId } }), meta);
    const dataOf = (arm: string) => {
      const t = list.jobs.find((j) => j.labels['uae-arm'] === arm)!;
      const d = t.spec!.kind!.$case === 'training' ? t.spec!.kind!.value.dataset! : undefined;
      return d!.source!.$case === 'npy' ? d!.source!.value : undefined;
    };
    const y = [...((await getNpy(bus.artifacts, dataOf('original')!.yTrain)).data as Int32Array)];
    expect(y).toHaveLength(24);
    const mineData = dataOf('mine')!;
    expect((await getNpy(bus.artifacts, mineData.xTrain)).shape).toEqual([48, 77]);
    expect([...((await getNpy(bus.artifacts, mineData.yTrain)).data as Int32Array)]).toEqual([...y, ...y]);
    expect([...((await getNpy(bus.artifacts, dataOf('none')!.yTrain)).data as Int32Array)]).toEqual(y);

    // A cnn-classifier study on the uploaded images (native [16, 16, 1] samples through every stage).
    const cnnJob = await unary<v1.SubmitPipelineResponse>(
      client,
      'submitPipeline',
      v1.SubmitPipelineRequest.fromPartial({
        requestId: 'sup-cnn',
        config: { ...config, dataset: images.cfg, model: { kind: ModelKind.MODEL_KIND_CNN_CLASSIFIER, architecture: v1.CnnArchitecture.CNN_ARCHITECTURE_MNIST }, methods: [config.methods[0]!], train: { epochs: 1, batchSize: 16 }, retrainEpochs: 1, shardSize: 32 },
      }),
      meta,
    );
    const cnnDone = await waitTerminal(client, cnnJob.job!.jobId, meta, 90_000);
    expect(cnnDone.error?.message ?? '').toBe('');
    const cnnResult = cnnDone.result?.kind?.$case === 'pipeline' ? cnnDone.result.kind.value : undefined;
    expect(cnnResult!.metrics!.model).toBe(ModelKind.MODEL_KIND_CNN_CLASSIFIER);
    expect(cnnResult!.models.mine!.inputShape).toEqual([16, 16, 1]);
    expect(cnnResult!.metrics!.methods.mine!.accuracy).toBeGreaterThanOrEqual(0);

    // The same study with an autoencoder and cw, or a classifier without cw, is refused up front.
    const bad = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: { ...config, model: { kind: ModelKind.MODEL_KIND_DENSE_AE, hidden: 16 } } }), meta);
    expect([bad.code, bad.field]).toEqual([INVALID_ARGUMENT, 'config.attack.criterion.cw']);
    const noCw = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: { ...config, attack: tinyAttackConfig() } }), meta);
    expect([noCw.code, noCw.field]).toEqual([INVALID_ARGUMENT, 'config.attack.criterion']);
  }, 120_000);

  it('the same supervised job with training and evaluation in the orchestrator process gives the same accuracies and ASR', async () => {
    expect(supervisedMetrics).toBeDefined();
    const solo = await startServiceProcess('orchestrator', { natsUrl: cluster.nats.url, logLevel: 'warn', env: CLUSTER_ENV });
    try {
      const client = solo.client(v1.JobServiceClient);
      const { job } = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'sup-solo', config: supervisedStudy() }), solo.metadata());
      const done = await waitTerminal(client, job!.jobId, solo.metadata(), 60_000);
      expect(done.state, JSON.stringify(done.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
      const m = done.result?.kind?.$case === 'pipeline' ? done.result.kind.value.metrics! : undefined;
      for (const arm of ['original', 'mine', 'none']) {
        expect(m!.methods[arm]!.accuracy, arm).toBe(supervisedMetrics!.methods[arm]!.accuracy);
        expect(m!.methods[arm]!.asr, arm).toBe(supervisedMetrics!.methods[arm]!.asr);
      }
      const training = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ kind: v1.JobKind.JOB_KIND_TRAINING, labels: { 'uae-pipeline': job!.jobId } }), solo.metadata());
      expect(training.jobs).toHaveLength(0);
    } finally {
      await solo.stop();
    }
  }, 60_000);
});
