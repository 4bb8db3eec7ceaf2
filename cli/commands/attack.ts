/**
 * `uae attack`: UAEs for every sample of a dataset split (or an .npy array)
 * against a saved autoencoder (Algorithm 1), or adversarial examples against a
 * saved classifier (supervised: the cw criterion by default, untargeted away
 * from the true label, or --target-class N; samples whose true class is N are
 * skipped and counted in `skipped`), or against a saved SimCLR model (the
 * loss criterion only: its contrastive per-sample loss, L(x′) ≤ L(x)). Writes x′, per-sample success and
 * similarity (MI for MINE) as .npy, all of them with the clean x, labels and
 * source rows as <similarity>.npz (docs/file-formats.md), per-sample details
 * (with ‖x′ − x‖∞ and ‖x′ − x‖₂ as linf, l2) as results.json; with --json prints
 * { samples, seconds, samples_per_s, asr, mi } (mi: the mean MINE similarity of
 * the successful samples; null without MINE or successes), fid/kid with --fid.
 * `--fid` adds FID and KID × 100 of x′ against the dataset's training split
 * (with --x: against its clean rows) and the feature network's record.
 *
 * Ctrl-C (or SIGTERM) keeps the samples finished so far, marked
 * `"partial": true` in results.json, leaves status.json `interrupted` and
 * exits 130; `--resume` attacks only the rest. A sample's result depends only
 * on (seed, sample id), so the resumed output equals an uninterrupted run's.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { encodeNpz, npyFloat32, readNpy, sourceRows, type DatasetSplit } from '../../libs/data/index.js';
import { attackConfig, attackSteps, isSignBaseline, pgdStepSize, type SampleResult } from '../../libs/attack/index.js';
import { generateUaes, sampleBundle, setDistances, similarityFor, stackAdversarial } from '../../libs/augment/index.js';
import { attackSuccessRate, summarize, type FeatureModel } from '../../libs/eval/index.js';
import { progressSink } from '../progress.js';
import { addAttackOptions, addDataOptions, addOutputOptions, addRunOptions, atLeastOne, attackInputFrom, int, loadDatasetFor, positive } from '../options.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { RunStatus } from '../run-status.js';
import { readSampleResults, writeSampleResults } from '../sample-results.js';
import { writeAtomic } from '../atomic.js';
import { forFlag } from '../conventions.js';
import { loadModelDir } from '../model-dir.js';
import { featureModelFor } from '../feature-model.js';

export function attackCommand(): Command {
  const cmd = new Command('attack')
    .description('generate UAEs (MinMax, Algorithm 1; or the PGD/FGSM baselines) for every sample against a saved autoencoder, or adversarial examples against a saved classifier')
    .requiredOption('--model-dir <dir>', 'a model written by `uae train` (an autoencoder, a classifier or a SimCLR model) or `uae pipeline` (models/<name>)')
    .requiredOption('--out <dir>', 'output directory (new or empty; see --resume, --force)')
    .option('--x <file>', 'attack the rows of this .npy instead of a dataset split')
    .addOption(new Option('--split <split>', 'dataset split to attack').choices(['train', 'test']).default('train'))
    .addOption(new Option('--similarity <kind>', 'MINE (the paper), L2 (L2-UAE) or cosine').choices(['mine', 'l2', 'cosine']).default('mine'));
  addDataOptions(cmd, false);
  addAttackOptions(cmd, { supervised: true });
  cmd
    // The baselines' usual spelling: --method, --steps and --step-size (the same
    // config fields as --attack-method and --iterations; defaults in libs/attack/config.ts).
    .addOption(new Option('--method <m>', 'the same as --attack-method: minmax, penalty, pgd (L∞ PGD, random start) or fgsm').choices(['minmax', 'penalty', 'pgd', 'fgsm']))
    .option('--steps <N>', "PGD's steps: the same as --iterations", atLeastOne('--steps'))
    .option('--step-size <α>', "PGD's step size α (default 2.5·ε/steps)", positive('--step-size'))
    .option('--mine-measure-steps <n>', 'pgd/fgsm with --similarity mine: Adam steps of the fresh MINE network that measures I(x, x′) of each returned x′ (default 100, at learning rate 1e-3; 0 = not measured)', int('--mine-measure-steps'))
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--fid', "FID and KID (× 100) of x′ against the dataset's training split (with --x: its clean rows), on a classifier trained on the dataset (saved to OUT/feature-model)")
    .option('--feature-model <dir>', 'with --fid: the feature network of an earlier run (its feature-model/ folder) instead of training one');
  addRunOptions(cmd, 'an interrupted attack in --out: attack only the samples it did not finish');
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    if (!o.x === !o.dataset) throw new InvalidArgumentError('give exactly one of --dataset and --x');
    if (o.method !== undefined && o.attackMethod !== undefined && o.method !== o.attackMethod) throw new InvalidArgumentError(`--method ${o.method} and --attack-method ${o.attackMethod} disagree; give one`);
    if (o.steps !== undefined && o.iterations !== undefined && o.steps !== o.iterations) throw new InvalidArgumentError(`--steps ${o.steps} and --iterations ${o.iterations} disagree; give one`);
    o.attackMethod ??= o.method;
    o.iterations ??= o.steps;
    if (o.stepSize !== undefined && o.attackMethod !== 'pgd') throw new InvalidArgumentError('--step-size applies to --method pgd only');
    if (o.mineMeasureSteps !== undefined && !(o.attackMethod === 'pgd' || o.attackMethod === 'fgsm')) {
      throw new InvalidArgumentError('--mine-measure-steps applies to --method pgd or fgsm only (MinMax and penalty train their MINE during the attack: --mine-steps)');
    }
    if (o.featureModel && !o.fid) throw new InvalidArgumentError('--feature-model needs --fid');
    if (o.fid && o.x && !o.featureModel) throw new InvalidArgumentError('--fid with --x needs --feature-model DIR (there are no labels to train a feature network on)');
    const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
    const info = await initBackend();
    const loaded = await loadModelDir(o.modelDir);
    const ae = loaded.model;
    const classifier = loaded.family === 'classifier' ? loaded.model : undefined;
    const simclr = loaded.family === 'simclr';
    let featureModel: FeatureModel | undefined;
    try {
      const defaultCriterion = classifier ? 'cw' : simclr ? 'loss' : 'reconstruction';
      const criterion: 'reconstruction' | 'loss' | 'cw' = o.criterion ?? defaultCriterion;
      if (simclr && criterion !== 'loss') {
        throw new InvalidArgumentError(`--criterion ${criterion} does not apply to ${o.modelDir}, a ${ae.kind}: SimCLR models are attacked with --criterion loss (their contrastive per-sample loss; the default)`);
      }
      if (simclr && o.targetClass !== undefined) throw new InvalidArgumentError(`--target-class applies to classifiers; ${o.modelDir} is a ${ae.kind}`);
      if (classifier && criterion === 'reconstruction') {
        throw new InvalidArgumentError(`--criterion reconstruction needs an autoencoder; ${o.modelDir} is a ${classifier.kind} (use cw or loss)`);
      }
      if (!classifier && criterion === 'cw') throw new InvalidArgumentError(`--criterion cw needs a classifier; ${o.modelDir} is a ${ae.kind} (use reconstruction or loss)`);
      if (o.targetClass !== undefined) {
        if (!classifier) throw new InvalidArgumentError(`--target-class applies to classifiers; ${o.modelDir} is a ${ae.kind}`);
        if (criterion !== 'cw') throw new InvalidArgumentError(`--target-class needs --criterion cw (this is ${criterion})`);
        if (o.targetClass >= classifier.classes) throw new InvalidArgumentError(`--target-class must be in [0, ${classifier.classes}) for this ${classifier.kind}; got ${o.targetClass}`);
      }
      const d = ae.inputShape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      let split: DatasetSplit | undefined;
      let ds: Awaited<ReturnType<typeof loadDatasetFor>> | undefined;
      if (o.x) {
        const arr = await forFlag('--x', o.x, () => readNpy(o.x));
        const rowSize = arr.shape.slice(1).reduce((a, b) => a * b, 1);
        if (arr.shape.length < 2 || rowSize !== d) {
          throw new InvalidArgumentError(`--x ${o.x}: shape [${arr.shape.join(', ')}] is not [N, ${ae.inputShape.join(', ')}] (or [N, ${d}]) as the model expects`);
        }
        data = npyFloat32(arr);
      } else {
        ds = await loadDatasetFor(o, ae.kind);
        split = ds[o.split as 'train' | 'test'];
        data = split.x;
      }
      // The source rows attacked, their true labels, and the criterion's labels (classifiers).
      let index = sourceRows(split ?? { n: data.length / d });
      let trueLabels = split?.labels;
      let labels: Int32Array | undefined;
      let skipped = 0;
      if (classifier) {
        if (o.targetClass !== undefined) {
          if (trueLabels) {
            // Already the target class: nothing to attack. Skipped (not attacked, not in ASR), and counted.
            const keep = Array.from(trueLabels.keys()).filter((i) => trueLabels![i] !== o.targetClass);
            skipped = trueLabels.length - keep.length;
            const rows = new Float32Array(keep.length * d);
            keep.forEach((i, k) => rows.set(data.subarray(i * d, (i + 1) * d), k * d));
            data = rows;
            index = Int32Array.from(keep, (i) => index[i]!);
            trueLabels = Int32Array.from(keep, (i) => trueLabels![i]!);
          }
          labels = new Int32Array(data.length / d).fill(o.targetClass);
        } else {
          if (!trueLabels) {
            throw new InvalidArgumentError(
              o.x
                ? `--x ${o.x} has no labels: the ${criterion} criterion needs the true class of each row; ${criterion === 'cw' ? 'give --target-class N (targeted) or ' : ''}attack a --dataset split`
                : `--dataset ${o.dataset} has no labels for the ${criterion} criterion`,
            );
          }
          labels = trueLabels;
        }
      }
      const n = data.length / d;
      const input = attackInputFrom(o, defaultCriterion);
      if (defaultCriterion !== 'reconstruction' && input.criterion === undefined) input.criterion = { kind: defaultCriterion };
      const config = attackConfig({
        ...input,
        similarity: similarityFor(o.similarity, ae, input.similarity),
        ...(o.mineMeasureSteps !== undefined ? { mineMeasure: { steps: o.mineMeasureSteps } } : {}),
        seed: o.seed,
      });
      // What the samples are: a resumed attack must be the same one.
      const identity = {
        input_sha256: createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex'),
        config,
        ...(o.targetClass !== undefined ? { target_class: o.targetClass, skipped } : {}),
      };

      await prepareOutDir(o.out, { command: 'attack', resume: o.resume, force: o.force });
      let earlier: SampleResult[] = [];
      if (o.resume && existsSync(join(o.out, 'results.json'))) {
        const kept = await readSampleResults(o.out, d);
        if (kept.header['input_sha256'] !== identity.input_sha256 || JSON.stringify(kept.header['config']) !== JSON.stringify(config) || kept.header.samples !== n) {
          throw new InvalidArgumentError(`--resume: ${o.out}/results.json is another attack (other samples, model input or attack settings); use another --out`);
        }
        earlier = kept.results;
      }
      if (o.fid) featureModel = await featureModelFor(ds, o.out, { sampleSize: d, dir: o.featureModel, resume: o.resume, log: (l) => progress.log(l) });
      const status = await RunStatus.start(o.out, 'attack');
      status.enter('attack');
      const doneIds = new Set(earlier.map((r) => r.sampleId));
      const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !doneIds.has(i));
      progress.log(
        `backend ${info.name}; attacking ${rest.length} samples of [${ae.inputShape.join('×')}] with ${isSignBaseline(config) ? `${config.method} (ε=${config.epsilon}, α=${pgdStepSize(config)}), similarity ${config.similarity.kind}` : config.similarity.kind}, criterion ${config.criterion.kind}${o.targetClass !== undefined ? ` → class ${o.targetClass} (${skipped} rows of that class skipped)` : ''}, T=${attackSteps(config)}${earlier.length > 0 ? ` (${earlier.length} of ${n} kept from the interrupted run)` : ''}`,
      );
      const finished: SampleResult[] = [...earlier];
      const header = (done: number) => ({ partial: done < n, samples: n, done, similarity: config.similarity.kind, model: ae.kind, backend: info.name, ...identity });
      const interrupt = interruptScope();
      const started = performance.now();
      try {
        if (rest.length > 0) {
          const rows = new Float32Array(rest.length * d);
          rest.forEach((row, k) => rows.set(data.subarray(row * d, (row + 1) * d), k * d));
          progress.start('attack', n);
          const restLabels = labels ? Int32Array.from(rest, (row) => labels![row]!) : undefined;
          await generateUaes(ae, { data: rows, inputShape: ae.inputShape, sampleIds: rest, ...(restLabels ? { labels: restLabels } : {}) }, config, {
            workers: o.workers,
            signal: interrupt.signal,
            onProgress: (p, chunk) => {
              finished.push(...chunk);
              progress.update(earlier.length + Math.floor(p.fraction * p.total), `${p.succeeded} succeeded, ${p.samplesPerSecond.toFixed(3)} samples/s`);
            },
          });
          progress.stop();
        }
      } catch (e) {
        progress.stop();
        if (!interrupt.interrupted) {
          await status.finish('failed', { message: (e as Error).message });
          throw e;
        }
        await writeSampleResults(o.out, finished, ae.inputShape, header(finished.length));
        const kept = `${finished.length} of ${n} samples`;
        await status.finish('interrupted', { message: `${kept} kept (partial)`, kept: ['x-adv.npy', 'success.npy', 'similarity.npy', 'results.json'] });
        process.stderr.write(`uae: interrupted (${interrupt.interrupted}) during the attack: kept ${kept} in ${o.out} (results.json "partial": true); rerun with --resume to attack the rest\n`);
        process.exitCode = INTERRUPTED_EXIT_CODE;
        return;
      } finally {
        interrupt.dispose();
      }
      const seconds = (performance.now() - started) / 1000;
      const results = finished.sort((a, b) => a.sampleId - b.sampleId);
      const bundle = `${config.similarity.kind}.npz`;
      const xAdv = stackAdversarial(results, d);
      // Rows of --x, or of the dataset split (its source rows through any --train-samples subset).
      await writeAtomic(join(o.out, bundle), encodeNpz(sampleBundle({
        x: data,
        xAdv,
        sampleShape: ae.inputShape,
        index,
        ...(trueLabels ? { labels: trueLabels } : {}),
        attack: { results, similarity: config.similarity.kind },
      })));
      // FID/KID of x′ against the training data (the paper's Table 2).
      // x′ of the training split (or of --x) against its own clean rows: pairs, row by row.
      const reference = ds ? ds.train.x : data;
      const quality = featureModel
        ? { ...(await setDistances({ model: featureModel }, reference, { x_adv: xAdv }, { seed: o.seed, paired: reference === data }))['x_adv']!, feature_model: featureModel.record }
        : undefined;
      const summary = {
        samples: n,
        seconds,
        samples_per_s: rest.length > 0 ? rest.length / seconds : 0,
        asr: attackSuccessRate(results),
        mi: config.similarity.kind === 'mine' ? meanOf(results.filter((r) => r.success).map((r) => r.similarity)) : null,
        similarity_of_successes: summarize(results.filter((r) => r.success).map((r) => r.similarity)) ?? null,
        ...quality,
      };
      await writeSampleResults(o.out, results, ae.inputShape, { ...header(n), ...summary });
      await status.finish('complete');
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            samples: n,
            seconds,
            samples_per_s: summary.samples_per_s,
            asr: summary.asr,
            mi: summary.mi,
            ...(o.targetClass !== undefined ? { target_class: o.targetClass, skipped } : {}),
            ...(quality ? { fid: quality.fid, kid: quality.kid } : {}),
          }) + '\n',
        );
      } else {
        const fid = quality ? `, FID ${quality.fid.toPrecision(4)}, KID×100 ${quality.kid.toPrecision(4)}` : '';
        const mi = summary.mi !== null ? `, MI of successes ${summary.mi.toFixed(4)}` : '';
        const skip = skipped > 0 ? ` (${skipped} samples already of class ${o.targetClass} skipped)` : '';
        console.log(`${n} samples${skip} in ${seconds.toFixed(1)} s (${summary.samples_per_s.toFixed(3)} samples/s), ASR ${(summary.asr * 100).toFixed(1)}%${mi}${fid}; wrote ${o.out}/x-adv.npy, success.npy, similarity.npy, ${bundle}, results.json`);
      }
    } finally {
      ae.dispose();
      featureModel?.classifier.dispose();
    }
  });
}

/** The mean of the finite values; null when there are none. */
function meanOf(values: readonly number[]): number | null {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? null : finite.reduce((a, b) => a + b, 0) / finite.length;
}
