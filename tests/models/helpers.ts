import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../../libs/tensor/index.js';
import { loadIdxImages } from '../../libs/data/index.js';

export const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fashion-mnist-slice');

/** The first `n` fixture training images, [n, 28, 28, 1] in [0, 1]. */
export async function fixtureImages(n: number, split: 'train' | 't10k' = 'train'): Promise<tf.Tensor4D> {
  const img = await loadIdxImages(join(FIXTURE, `${split}-images-idx3-ubyte.gz`), { limit: n });
  return tf.tensor4d(img.data, img.shape);
}

export function weightsOf(model: { getWeights(): tf.Tensor[] }): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
