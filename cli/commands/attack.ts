/**
 * `uae attack`: UAEs for every sample of a dataset split (or an .npy array)
 * against a saved autoencoder. Writes x′, per-sample success and similarity
 * (MI for MINE) as .npy, per-sample details as results.json; with --json
 * prints { samples, seconds, samples_per_s, asr }.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { readNpy, writeNpy } from '../../libs/data/index.js';
import { loadAutoencoder } from '../../libs/models/index.js';
import { attackConfig } from '../../libs/attack/index.js';
import { generateUaes, similarityFor } from '../../libs/augment/index.js';
import { attackSuccessRate, summarize } from '../../libs/eval/index.js';
import { progressSink } from '../progress.js';
import { addAttackOptions, addDataOptions, addOutputOptions, attackInputFrom, int, loadDatasetFor } from '../options.js';
import { forFlag } from '../conventions.js';

export function attackCommand(): Command {
  const cmd = new Command('attack')
    .description('generate UAEs (MinMax, Algorithm 1) for every sample against a saved autoencoder')
    .requiredOption('--model-dir <dir>', 'a model written by `uae train` or `uae pipeline` (models/<name>)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--x <file>', 'attack the rows of this .npy instead of a dataset split')
    .addOption(new Option('--split <split>', 'dataset split to attack').choices(['train', 'test']).default('train'))
    .addOption(new Option('--similarity <kind>', 'MINE (the paper), L2 (L2-UAE) or cosine').choices(['mine', 'l2', 'cosine']).default('mine'));
  addDataOptions(cmd, false);
  addAttackOptions(cmd);
  cmd.option('--seed <n>', 'seed', int('--seed'), 0);
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    if (!o.x === !o.dataset) throw new InvalidArgumentError('give exactly one of --dataset and --x');
    const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
    const info = await initBackend();
    const ae = await forFlag('--model-dir', o.modelDir, () => loadAutoencoder(o.modelDir));
    try {
      const d = ae.inputShape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (o.x) {
        const arr = await forFlag('--x', o.x, () => readNpy(o.x));
        const rowSize = arr.shape.slice(1).reduce((a, b) => a * b, 1);
        if (arr.shape.length < 2 || rowSize !== d) {
          throw new InvalidArgumentError(`--x ${o.x}: shape [${arr.shape.join(', ')}] is not [N, ${ae.inputShape.join(', ')}] (or [N, ${d}]) as the model expects`);
        }
        data = Float32Array.from(arr.data);
      } else {
        const ds = await loadDatasetFor(o, ae.kind);
        data = ds[o.split as 'train' | 'test'].x;
      }
      const n = data.length / d;
      const config = attackConfig({ ...attackInputFrom(o), similarity: similarityFor(o.similarity, ae, attackInputFrom(o).similarity), seed: o.seed });
      progress.log(`backend ${info.name}; attacking ${n} samples of [${ae.inputShape.join('×')}] with ${config.similarity.kind}, T=${config.iterations}`);
      progress.start('attack', n);
      const started = performance.now();
      const results = await generateUaes(ae, { data, inputShape: ae.inputShape }, config, {
        workers: o.workers,
        onProgress: (p) => progress.update(Math.floor(p.fraction * p.total), `${p.succeeded} succeeded, ${p.samplesPerSecond.toFixed(3)} samples/s`),
      });
      progress.stop();
      const seconds = (performance.now() - started) / 1000;
      await mkdir(o.out, { recursive: true });
      const xAdv = new Float32Array(n * d);
      results.forEach((r, i) => xAdv.set(r.xAdv, i * d));
      await writeNpy(join(o.out, 'x-adv.npy'), [n, ...ae.inputShape], xAdv);
      await writeNpy(join(o.out, 'success.npy'), [n], Uint8Array.from(results, (r) => (r.success ? 1 : 0)));
      await writeNpy(join(o.out, 'similarity.npy'), [n], Float32Array.from(results, (r) => r.similarity));
      const perSample = results.map(({ xAdv: _x, trace: _t, ...rest }) => rest);
      const summary = {
        samples: n,
        seconds,
        samples_per_s: n / seconds,
        asr: attackSuccessRate(results),
        similarity: config.similarity.kind,
        similarity_of_successes: summarize(results.filter((r) => r.success).map((r) => r.similarity)) ?? null,
        backend: info.name,
        config,
      };
      await writeFile(join(o.out, 'results.json'), JSON.stringify({ ...summary, results: perSample }, null, 2) + '\n');
      if (o.json) {
        process.stdout.write(JSON.stringify({ samples: n, seconds, samples_per_s: summary.samples_per_s, asr: summary.asr }) + '\n');
      } else {
        console.log(`${n} samples in ${seconds.toFixed(1)} s (${summary.samples_per_s.toFixed(3)} samples/s), ASR ${(summary.asr * 100).toFixed(1)}%; wrote ${o.out}/x-adv.npy, success.npy, similarity.npy, results.json`);
      }
    } finally {
      ae.dispose();
    }
  });
}
