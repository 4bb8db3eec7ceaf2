/**
 * `uae submit`: submits the augmentation study to a running system
 * (JobService.SubmitPipeline) from a PipelineConfig JSON file or from the
 * same flags as `uae pipeline`; `--watch` follows it to the end.
 *
 *   uae submit --dataset mice-protein --model dense-ae --methods mine,ga-0.05 --epochs 5 --watch
 *   uae submit --config pipeline.json --request-id run-42 --label team=ml
 */
import { existsSync, readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, fromJson, type DescMessage, type FileRegistry, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { UaeClient } from '../../libs/client/index.js';
import { augmentationMethodFromName, DESCRIPTOR_SET_PATH, modelKindFromName, v1, type ModelKindName } from '../../libs/proto/index.js';
import { pipelineRunToProto } from '../../libs/proto/run-config.js';
import { addRemoteOptions, collectLabel, followJob, processIO, withClient, type RemoteIO } from './remote-common.js';
import { formatOption, type TableFormat } from '../tables.js';

const MODEL_KINDS: ModelKindName[] = ['dense-ae', 'conv-ae', 'sparse-ae', 'adversarial-ae', 'concrete-ae', 'mlp-classifier', 'cnn-classifier'];
const CNN_ARCHITECTURES = { mnist: v1.CnnArchitecture.CNN_ARCHITECTURE_MNIST, cifar: v1.CnnArchitecture.CNN_ARCHITECTURE_CIFAR } as const;

const count = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const nonNegative = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
  return n;
};

/** The flags that describe the pipeline (mutually exclusive with --config). */
const PIPELINE_FLAGS = [
  'dataset', 'upload', 'labelColumn', 'trainSamples', 'testSamples', 'model', 'hidden', 'k', 'methods', 'epochs', 'retrainEpochs',
  'batch', 'classifierEpochs', 'iterations', 'mineSteps', 'mineDraws', 'attackMethod', 'criterion', 'kappa', 'alpha', 'epsilon', 'seed', 'shardSize',
  'seeds', 'validation', 'patience', 'restoreBest', 'retrainSchedule', 'probe', 'probeTrainSamples', 'deltaUpdate', 'converge', 'maxEpochs',
  'rounds', 'architecture',
] as const;

export interface SubmitFlags {
  dataset?: string;
  upload?: boolean;
  labelColumn?: string;
  trainSamples?: number;
  testSamples?: number;
  model?: string;
  hidden?: number;
  k?: number;
  methods?: string;
  epochs?: number;
  retrainEpochs?: number;
  batch?: number;
  classifierEpochs?: number;
  iterations?: number;
  mineSteps?: number;
  mineDraws?: number;
  attackMethod?: 'minmax' | 'penalty';
  criterion?: 'reconstruction' | 'loss' | 'cw';
  /** cnn-classifier: the layout. */
  architecture?: 'mnist' | 'cifar';
  kappa?: number;
  alpha?: number;
  epsilon?: number;
  seed?: number;
  shardSize?: number;
  /** The study's seeds (`--seeds 0,1,2`). */
  seeds?: number[];
  /** Validation fraction (0 = none) and early-stopping patience. */
  validation?: number;
  patience?: number;
  /** Early-stopped training keeps its best validation epoch's weights. */
  restoreBest?: boolean;
  retrainSchedule?: 'longer' | 'same-epochs' | 'same-steps' | 'plateau';
  probe?: 'mlp' | 'extratrees' | 'both';
  probeTrainSamples?: number;
  deltaUpdate?: 'gradient' | 'sign' | 'adam';
  /** Concrete AE: the convergence loop (default on, as `uae pipeline`; --no-converge). */
  converge?: boolean;
  maxEpochs?: number;
  /** Rounds of augmentation (SuppMat 6.15); unset: the server's default, one. */
  rounds?: number;
}

export const DEFAULT_METHODS = 'mine,l2,ga-0.05,ga-0.1,repeat';

const METHOD_NAMES = 'mine, l2, cosine (optionally -sign/-adam and @<step size>), init-noise, ga-<sigma> (or noise-<sigma>), flip, rotate-<degrees>, repeat, none';

function methodFromName(name: string): v1.AugmentationMethod {
  const n = name.trim();
  if (/^(ga|noise)-/.test(n)) {
    const sigma = Number(n.replace(/^(ga|noise)-/, ''));
    if (!(Number.isFinite(sigma) && sigma > 0)) throw new Error(`--methods: "${n}" needs a positive sigma, e.g. ga-0.1`);
  }
  try {
    return augmentationMethodFromName(n);
  } catch {
    throw new Error(`--methods: unknown method "${n}"; use ${METHOD_NAMES}`);
  }
}

const SCHEDULES = {
  longer: v1.RetrainSchedule.RETRAIN_SCHEDULE_LONGER,
  'same-epochs': v1.RetrainSchedule.RETRAIN_SCHEDULE_SAME_EPOCHS,
  'same-steps': v1.RetrainSchedule.RETRAIN_SCHEDULE_SAME_STEPS,
  plateau: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU,
} as const;
const PROBES = { mlp: v1.ProbeKind.PROBE_KIND_MLP, extratrees: v1.ProbeKind.PROBE_KIND_EXTRATREES, both: v1.ProbeKind.PROBE_KIND_BOTH } as const;
const UPDATES = { gradient: v1.DeltaUpdate.DELTA_UPDATE_GRADIENT, sign: v1.DeltaUpdate.DELTA_UPDATE_SIGN, adam: v1.DeltaUpdate.DELTA_UPDATE_ADAM } as const;

const roundCount = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--rounds must be an integer ≥ 1');
  return n;
};
const seedList = (v: string): number[] => {
  const seeds = v.split(',').map((s) => Number(s.trim()));
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new InvalidArgumentError('--seeds must be a comma-separated list of non-negative integers, e.g. 0,1,2');
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError('--seeds lists a seed twice');
  return seeds;
};
const fraction = (name: string) => (v: string) => {
  const f = Number(v);
  if (!(f >= 0 && f < 1)) throw new InvalidArgumentError(`${name} must be in [0, 1) (0 = no validation split)`);
  return f;
};

/** The StudyProtocol the flags describe (unset when none is given: the server's defaults, the old behaviour). */
function protocolFromFlags(o: SubmitFlags): v1.StudyProtocol | undefined {
  if (o.retrainSchedule === 'plateau' && !(o.validation !== undefined && o.validation > 0)) throw new Error('--retrain-schedule plateau needs a validation split (--validation > 0)');
  if (o.patience !== undefined && !(o.validation !== undefined && o.validation > 0)) throw new Error('--patience needs a validation split (--validation > 0)');
  if (o.restoreBest && !(o.validation !== undefined && o.validation > 0)) throw new Error('--restore-best needs a validation split (--validation > 0)');
  // The concrete AE's convergence loop is on unless --no-converge, as in `uae pipeline`.
  const converge = o.model === 'concrete-ae' && o.converge !== false;
  if (o.maxEpochs !== undefined && !converge) throw new Error('--max-epochs applies to the concrete AE\'s convergence loop (--model concrete-ae, without --no-converge)');
  const p = v1.StudyProtocol.fromPartial({
    ...(o.validation !== undefined && o.validation > 0 ? { validation: { fraction: o.validation, patience: o.patience ?? 10, restoreBest: o.restoreBest === true } } : {}),
    retrainSchedule: o.retrainSchedule ? SCHEDULES[o.retrainSchedule] : 0,
    ...(converge ? { convergence: { enabled: true, maxEpochs: o.maxEpochs ?? 0 } } : {}),
    probe: o.probe ? PROBES[o.probe] : 0,
    probeTrainSamples: o.probeTrainSamples ?? 0,
  });
  const empty = !p.validation && !p.convergence && p.retrainSchedule === 0 && p.probe === 0 && p.probeTrainSamples === 0;
  return empty ? undefined : p;
}

/**
 * The PipelineConfig the flags describe. Flags not given stay unset, so the
 * server applies the same defaults `uae pipeline` has. `npy` replaces the
 * dataset by uploaded arrays.
 */
export function pipelineConfigFromFlags(o: SubmitFlags, npy?: v1.NpyDataset): v1.PipelineConfig {
  if (!o.dataset && !npy) throw new Error('--dataset is required (or --config FILE)');
  if (!o.model) throw new Error('--model is required (or --config FILE)');
  if (!(MODEL_KINDS as string[]).includes(o.model)) throw new Error(`--model must be one of ${MODEL_KINDS.join(', ')}; got "${o.model}"`);
  if (o.architecture !== undefined && o.model !== 'cnn-classifier') throw new Error('--architecture applies to --model cnn-classifier only');
  const classifier = o.model === 'mlp-classifier' || o.model === 'cnn-classifier';
  if (o.criterion === 'cw' && !classifier) throw new Error('--criterion cw needs a classifier (--model mlp-classifier or cnn-classifier)');
  if (classifier && o.criterion !== 'cw' && o.criterion !== 'loss') throw new Error(`--model ${o.model} needs --criterion cw (or loss): a classifier has no reconstruction`);
  const methods = (o.methods ?? DEFAULT_METHODS).split(',').filter((m) => m.trim() !== '').map(methodFromName);
  if (methods.length === 0) throw new Error('--methods must name at least one method');
  const attackGiven = [o.iterations, o.mineSteps, o.mineDraws, o.attackMethod, o.criterion, o.kappa, o.alpha, o.epsilon, o.deltaUpdate].some((v) => v !== undefined);
  const kappa = o.kappa ?? 0;
  const attack: v1.AttackConfig | undefined = attackGiven
    ? v1.AttackConfig.fromPartial({
        method: o.attackMethod === 'penalty' ? v1.AttackMethod.ATTACK_METHOD_PENALTY : o.attackMethod === 'minmax' ? v1.AttackMethod.ATTACK_METHOD_MINMAX : 0,
        iterations: o.iterations ?? 0,
        mineSteps: o.mineSteps,
        alpha: o.alpha,
        epsilon: o.epsilon,
        update: o.deltaUpdate ? UPDATES[o.deltaUpdate] : 0,
        ...(o.criterion === 'cw'
          ? { criterion: { kind: { $case: 'cw' as const, value: { kappa, targeted: false } } } }
          : o.criterion === 'loss'
          ? { criterion: { kind: { $case: 'loss' as const, value: { kappa } } } }
          : o.criterion !== undefined || o.kappa !== undefined
            ? { criterion: { kind: { $case: 'reconstruction' as const, value: { kappa } } } }
            : {}),
        ...(o.mineDraws
          ? { similarity: { kind: { $case: 'mine' as const, value: v1.MineConfig.fromPartial({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: o.mineDraws }) } } }
          : {}),
      })
    : undefined;
  // With --seeds the first seeds everything else (the data subsets too), as in `uae pipeline`.
  const seed = o.seed ?? o.seeds?.[0] ?? 0;
  const protocol = protocolFromFlags(o);
  return v1.PipelineConfig.fromPartial({
    dataset: {
      source: npy ? { $case: 'npy', value: npy } : { $case: 'name', value: o.dataset! },
      trainSamples: o.trainSamples ?? 0,
      testSamples: o.testSamples ?? 0,
      seed,
      labelColumn: o.labelColumn ?? '',
    },
    model: {
      kind: modelKindFromName(o.model as ModelKindName),
      hidden: o.hidden ?? 0,
      selectedFeatures: o.k ?? 0,
      ...(o.architecture ? { architecture: CNN_ARCHITECTURES[o.architecture] } : {}),
    },
    methods,
    ...(o.epochs !== undefined || o.batch !== undefined ? { train: { epochs: o.epochs ?? 0, batchSize: o.batch ?? 0 } } : {}),
    retrainEpochs: o.retrainEpochs ?? 0,
    attack,
    ...(o.classifierEpochs !== undefined && o.classifierEpochs > 0 ? { downstream: { epochs: o.classifierEpochs } } : {}),
    skipDownstream: o.classifierEpochs === 0,
    seed,
    shardSize: o.shardSize ?? 0,
    seeds: o.seeds ?? [],
    ...(protocol ? { protocol } : {}),
    ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
  });
}

/** The messages of uae.v1, for a strict reading of proto3 JSON (unknown fields are errors, not dropped). */
let registry: FileRegistry | undefined;
function protoMessage(name: string): DescMessage {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTOR_SET_PATH)));
  const desc = registry.getMessage(name);
  if (!desc) throw new Error(`${name} is not in ${DESCRIPTOR_SET_PATH}`);
  return desc;
}

/** Proto3 JSON of `type` that names no field the contract lacks (ts-proto's fromJSON would drop it silently). */
function checkProtoJson(obj: unknown, type: string, path: string): void {
  try {
    fromJson(protoMessage(type), obj as JsonValue);
  } catch (e) {
    throw new Error(`--config ${path}: ${(e as Error).message.replace(/^cannot decode message \S+ from JSON: /, '')}`);
  }
}

/** A run document (what `uae pipeline` writes as config.json and reads with --config), told from a PipelineConfig by its kind or its plain dataset/model names. */
function isRunDocument(obj: Record<string, unknown>): boolean {
  return obj['kind'] !== undefined || typeof obj['dataset'] === 'string' || typeof obj['model'] === 'string';
}

/**
 * A --config file: a `uae pipeline` run document (a run's config.json), a
 * PipelineConfig in proto3 JSON (camelCase or snake_case field names, enum
 * names as strings), or a whole SubmitPipelineRequest ({ "config": …,
 * "requestId": …, "labels": … }). An empty document, an unknown field or a
 * missing dataset is an error that names the field.
 */
export async function readConfigFile(path: string): Promise<{ config: v1.PipelineConfig; requestId?: string; labels?: Record<string, string> }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`--config ${path}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`--config ${path}: expected a JSON object (a run document or a PipelineConfig)`);
  const obj = raw as Record<string, unknown>;
  if (Object.keys(obj).length === 0) throw new Error(`--config ${path}: empty document: dataset and model are required`);
  if (isRunDocument(obj)) {
    // Loaded here only: the schema's module brings the attack and model libraries.
    const { parseRunConfig } = await import('../../libs/augment/run-config.js');
    const run = parseRunConfig(obj, { source: `--config ${path}` });
    try {
      return { config: pipelineRunToProto(run) };
    } catch (e) {
      throw new Error(`--config ${path}: ${(e as Error).message}`);
    }
  }
  const request = 'config' in obj && !('dataset' in obj);
  checkProtoJson(obj, request ? 'uae.v1.SubmitPipelineRequest' : 'uae.v1.PipelineConfig', path);
  const req = request ? v1.SubmitPipelineRequest.fromJSON(obj) : undefined;
  const config = req ? req.config : v1.PipelineConfig.fromJSON(obj);
  const prefix = request ? 'config.' : '';
  if (!config?.dataset?.source) throw new Error(`--config ${path}: ${prefix}dataset: required (a dataset name or npy arrays)`);
  if (!config.model || config.model.kind === 0) throw new Error(`--config ${path}: ${prefix}model.kind: required`);
  return req ? { config, requestId: req.requestId || undefined, labels: req.labels } : { config };
}

/** Uploads DIR's x_train.npy, x_test.npy and (when present) y_train.npy, y_test.npy; a note on stderr per file unless quiet. */
export async function uploadNpyDataset(client: UaeClient, dir: string, io: RemoteIO, opts: { quiet?: boolean } = {}): Promise<v1.NpyDataset> {
  const refs: Partial<Record<'xTrain' | 'xTest' | 'yTrain' | 'yTest', v1.ArtifactRef>> = {};
  for (const [key, file, required] of [
    ['xTrain', 'x_train.npy', true],
    ['xTest', 'x_test.npy', true],
    ['yTrain', 'y_train.npy', false],
    ['yTest', 'y_test.npy', false],
  ] as const) {
    const path = join(dir, file);
    if (!existsSync(path)) {
      if (required) throw new Error(`--upload: ${path} not found (npy:DIR needs x_train.npy and x_test.npy)`);
      continue;
    }
    const res = await client.artifacts.putFile(path, { mediaType: 'application/x-npy' });
    refs[key] = res.ref;
    if (!opts.quiet) io.err.write(`uploaded ${file}: ${res.ref!.sha256} (${res.ref!.sizeBytes} bytes${res.alreadyExisted ? ', already stored' : ''})\n`);
  }
  return v1.NpyDataset.fromPartial(refs);
}

export function remoteSubmitCommand(io: RemoteIO = processIO()): Command {
  const cmd = new Command('submit')
    .description('submit the augmentation study to a running system (JobService.SubmitPipeline); prints the job id')
    .option('--config <file>', "a run document (a `uae pipeline` run's config.json) or a PipelineConfig as proto3 JSON (instead of the pipeline flags)")
    .option('--dataset <spec>', 'server-side dataset: fashion-mnist, mice-protein (or idx:DIR, csv:FILE, npy:DIR where the server allows paths)')
    .option('--upload', 'with --dataset npy:DIR: upload DIR/{x,y}_{train,test}.npy from here and submit them by reference')
    .option('--label-column <name>', 'csv: the label column (default: the last)')
    .option('--train-samples <n>', 'training subset size (seeded; default all)', count('--train-samples'))
    .option('--test-samples <n>', 'test subset size (seeded; default all)', count('--test-samples'))
    .option('--model <kind>', MODEL_KINDS.join(', '))
    .option('--hidden <n>', 'dense/sparse AE and mlp-classifier hidden width (default 128)', count('--hidden'))
    .option('--k <n>', 'concrete AE: features to select (default 50)', count('--k'))
    .option('--methods <list>', `comma-separated: ${METHOD_NAMES} (default ${DEFAULT_METHODS})`)
    .option('--epochs <n>', 'training epochs (default 20)', count('--epochs'))
    .option('--retrain-epochs <n>', 'retraining epochs on the augmented set (default 20)', count('--retrain-epochs'))
    .option('--batch <n>', 'training batch size (default 100)', count('--batch'))
    .option('--classifier-epochs <n>', 'downstream classifier epochs (default 50; 0 = skip)', count('--classifier-epochs'))
    .option('--iterations <T>', 'MinMax iterations (default 40)', count('--iterations'))
    .option('--mine-steps <n>', 'MINE Adam steps per iteration (default 20)', count('--mine-steps'))
    .option('--mine-draws <K>', 'MINE with the random-projection sampler and K draws', count('--mine-draws'))
    .addOption(new Option('--attack-method <m>', 'MinMax (Algorithm 1) or the penalty baseline (default minmax)').choices(['minmax', 'penalty']))
    .addOption(
      new Option('--criterion <kind>', "success criterion: reconstruction or loss (the model's own training loss; default reconstruction); cw (Carlini–Wagner, true labels) for the classifier kinds").choices(['reconstruction', 'loss', 'cw']),
    )
    .addOption(new Option('--architecture <a>', 'cnn-classifier: the layout (default cifar for 3-channel images, else mnist)').choices(['mnist', 'cifar']))
    .option('--kappa <κ>', 'attack confidence margin κ ≥ 0 (default 0)', nonNegative('--kappa'))
    .option('--alpha <α>', 'step size on δ (default 0.01)', positive('--alpha'))
    .option('--epsilon <ε>', 'L∞ bound on δ (default 1 = none)', positive('--epsilon'))
    .option('--seed <n>', 'seed for everything (default 0)', count('--seed'))
    .option('--shard-size <n>', 'samples per attack shard on the work queue (default 256)', count('--shard-size'))
    .option('--seeds <list>', 'several seeds, e.g. 0,1,2: every arm per seed, with intervals and paired verdicts', seedList)
    .option('--validation <fraction>', 'seeded validation split carved from training for early stopping (default none: fixed epochs)', fraction('--validation'))
    .option('--patience <n>', 'early stopping: epochs without a validation improvement (default 10)', count('--patience'))
    .option('--restore-best', 'early-stopped training ends with the weights of its best validation epoch, not its last')
    .addOption(
      new Option('--retrain-schedule <s>', 'longer: --retrain-epochs; same-epochs / same-steps: as the original; plateau: early stopping on the validation split (default longer)').choices(['longer', 'same-epochs', 'same-steps', 'plateau']),
    )
    .addOption(new Option('--probe <p>', "downstream probes (labelled data): mlp, extratrees (the paper's, on the full training split) or both (default mlp)").choices(['mlp', 'extratrees', 'both']))
    .option('--probe-train-samples <n>', 'ExtraTrees probe: a seeded subset of the full training split (default: all of it)', count('--probe-train-samples'))
    .addOption(new Option('--delta-update <rule>', 'δ update of every attack arm without its own: gradient (the paper), sign or adam').choices(['gradient', 'sign', 'adam']))
    .option('--no-converge', 'concrete AE: do not double the epochs until the selection converges (Balın)')
    .option('--max-epochs <n>', 'concrete AE: cap of the convergence loop (default 16 × --epochs)', count('--max-epochs'))
    .option('--rounds <n>', 'rounds of augmentation: round r of an arm attacks its round r−1 retrained model and retrains on original ∪ its sets of rounds 1..r; metrics per round (default 1)', roundCount)
    .option('--request-id <id>', 'idempotency key: resubmitting with the same id returns the same job')
    .option('--label <k=v>', 'label for the job (repeatable)', collectLabel)
    .option('--watch', 'follow the job to its end (exit 0 SUCCEEDED, 1 FAILED/CANCELLED)')
    .option('--quiet', 'no notes on stderr (the uploads of --upload, "submitted job"); with --watch no progress either')
    .option('--interval <ms>', 'with --watch and no terminal: at most one progress line per this many ms (default 5000)', count('--interval'))
    .option('--json', 'print the SubmitPipelineResponse (with --watch: the final job) as JSON')
    .addOption(formatOption());
  addRemoteOptions(cmd);
  return cmd.action(async (o: SubmitFlags & { config?: string; requestId?: string; label?: Record<string, string>; watch?: boolean; quiet?: boolean; interval?: number; json?: boolean; format: TableFormat }) => {
    let file: Awaited<ReturnType<typeof readConfigFile>> | undefined;
    if (o.config) {
      const clash = PIPELINE_FLAGS.filter((f) => cmd.getOptionValueSource(f) === 'cli');
      if (clash.length > 0) throw new Error(`--config cannot be combined with the pipeline flags (${clash.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')})`);
      file = await readConfigFile(o.config);
    } else {
      pipelineConfigFromFlags(o); // check the flags before connecting
      if (o.upload && !o.dataset?.startsWith('npy:')) throw new Error('--upload needs --dataset npy:DIR');
    }
    await withClient(cmd, io, async (client) => {
      const config = file ? file.config : pipelineConfigFromFlags(o, o.upload ? await uploadNpyDataset(client, o.dataset!.slice(4), io, { quiet: o.quiet || o.json }) : undefined);
      const res = await client.jobs.submitPipeline(config, {
        requestId: o.requestId ?? file?.requestId,
        labels: { ...file?.labels, ...o.label },
      });
      const job = res.job!;
      if (!o.watch) {
        io.out.write(o.json ? JSON.stringify(v1.SubmitPipelineResponse.toJSON(res), null, 2) + '\n' : `${job.jobId}\n`);
        return;
      }
      if (!o.json && !o.quiet) io.err.write(`submitted job ${job.jobId}${res.deduplicated ? ' (an earlier submission with this request id)' : ''}\n`);
      await followJob(client, job.jobId, io, { quiet: o.quiet, json: o.json, intervalMs: o.interval, format: o.format });
    });
  });
}
