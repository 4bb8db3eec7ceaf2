/**
 * FID and KID of generated sets against the training data (the paper's
 * Table 2; Table 8 for the MINE sampler's size), on a feature network trained
 * on the dataset itself (libs/eval feature-model.ts: Inception's weights are
 * not to be had here, so the numbers are comparable between arms and runs on
 * the same network, not with the paper's). KID is reported × 100, as the
 * paper does.
 */
import { extractFeatures, frechetDistance, kernelInceptionDistance, type FeatureModel, type KidOptions } from '../eval/index.js';
import type { AugmentationReport } from './pipeline.js';

/** KID as reported: × 100 (the paper's Tables 2 and 8). */
export const KID_SCALE = 100;

export interface SetScoring {
  model: FeatureModel;
  /** KID's subsets (libs/eval KID_DEFAULTS; the seed defaults to the run's). */
  kid?: KidOptions;
}

export interface SetDistance {
  fid: number;
  /** KID × 100. */
  kid: number;
}

/**
 * FID and KID × 100 of each set (rows of flat samples) against `reference`,
 * on `scoring.model`'s features. `paired`: row i of every set was made from
 * row i of `reference` (KID then compares disjoint rows: libs/eval KidOptions).
 */
export async function setDistances(scoring: SetScoring, reference: Float32Array, sets: Record<string, Float32Array>, opts: { seed?: number; paired?: boolean } = {}): Promise<Record<string, SetDistance>> {
  const width = scoring.model.record.features;
  const ref = await extractFeatures(scoring.model, reference);
  const out: Record<string, SetDistance> = {};
  for (const [name, x] of Object.entries(sets)) {
    const f = await extractFeatures(scoring.model, x);
    out[name] = {
      fid: frechetDistance(f, ref, width),
      kid: KID_SCALE * kernelInceptionDistance(f, ref, width, { seed: opts.seed ?? 0, paired: opts.paired ?? false, ...scoring.kid }).mean,
    };
  }
  return out;
}

/**
 * Adds `fid` and `kid` to every arm of `report` with a generated set (what
 * the arm retrained on besides the originals: for attack arms the UAEs, a
 * failure replaced by its original), against the samples trained on and
 * attacked: row by row their transforms, so KID pairs them (setDistances).
 * `repeat` and `none` generate nothing and get none. With several rounds,
 * every round's arms are scored on that round's sets.
 */
export async function scoreGeneratedSets(report: AugmentationReport, scoring: SetScoring): Promise<void> {
  // Several rounds: every round's sets (the top level shares the last round's arm records),
  // in one call so the reference's features are extracted once.
  const targets: Record<string, object> = {};
  const sets: Record<string, Float32Array> = {};
  for (const r of report.rounds ?? [report]) {
    const round = 'round' in r ? r.round : 1;
    for (const [arm, g] of Object.entries(r.generated)) {
      const record = r.methods[arm as keyof typeof r.methods];
      if (!g || !record) continue;
      targets[`${round}/${arm}`] = record;
      sets[`${round}/${arm}`] = g.x;
    }
  }
  for (const [key, d] of Object.entries(await setDistances(scoring, report.trainX, sets, { seed: report.seed, paired: true }))) Object.assign(targets[key]!, d);
}
