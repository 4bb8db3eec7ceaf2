/** A libs/data Dataset as the supervised study's labelled splits. */
import type { Dataset } from '../data/index.js';
import { SupervisedDataError, type SupervisedData } from './study.js';

export function supervisedData(ds: Dataset): SupervisedData {
  const train = ds.train;
  const test = ds.test;
  if (!train.labels || !test.labels) throw new SupervisedDataError('dataset', `${ds.name} has no labels (the supervised study needs them in both splits)`);
  let max = -1;
  for (const l of train.labels) if (l > max) max = l;
  for (const l of test.labels) if (l > max) max = l;
  return {
    name: ds.name,
    inputShape: [...ds.inputShape],
    classes: Math.max(ds.classes?.length ?? 0, max + 1),
    train: { x: train.x, labels: train.labels, n: train.n },
    test: { x: test.x, labels: test.labels, n: test.n },
  };
}
