/**
 * The feature network of `--fid` (`uae pipeline`, `uae attack`): the one
 * `--feature-model DIR` names, or the run's own in OUT/feature-model/ —
 * kept from the interrupted run on `--resume` (so every seed is scored on one
 * network), otherwise trained on the dataset and saved there.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../libs/data/index.js';
import { loadFeatureModel, saveFeatureModel, trainFeatureModel, type FeatureModel } from '../libs/eval/index.js';
import { MODEL_JSON } from '../libs/models/index.js';
import { forFlag } from './conventions.js';

/** The run's own feature network, under its output folder. */
export const FEATURE_MODEL_DIR = 'feature-model';

export async function featureModelFor(
  ds: Pick<Dataset, 'name' | 'inputShape' | 'train' | 'test' | 'fullTrain'> | undefined,
  out: string,
  opts: { sampleSize: number; dir?: string; resume?: boolean; log?: (line: string) => void },
): Promise<FeatureModel> {
  const own = join(out, FEATURE_MODEL_DIR);
  const fromDir = opts.dir ?? (opts.resume && existsSync(join(own, MODEL_JSON)) ? own : undefined);
  const flag = opts.dir !== undefined ? '--feature-model' : '--resume';
  let model: FeatureModel;
  if (fromDir !== undefined) {
    model = await forFlag(flag, fromDir, () => loadFeatureModel(fromDir));
    opts.log?.(`feature network: ${fromDir} (${model.record.architecture}; trained on ${model.record.dataset})`);
  } else {
    if (!ds) throw new Error('--fid: a feature network needs a labelled --dataset to train on, or --feature-model DIR');
    opts.log?.(`training the feature network on ${ds.name}`);
    model = await trainFeatureModel(ds);
    await saveFeatureModel(model, own);
    const acc = model.record.test_accuracy;
    opts.log?.(`feature network: ${model.record.architecture}${acc === null ? '' : `, test accuracy ${(acc * 100).toFixed(2)}%`}; saved to ${own}`);
  }
  if (model.record.input_size !== opts.sampleSize) {
    model.classifier.dispose();
    throw new Error(`${flag} ${fromDir}: the feature network takes ${model.record.input_size} values per sample; these samples have ${opts.sampleSize}`);
  }
  return model;
}
