/**
 * Conventional augmentations of Table 5 (the paper's SuppMat 6.12), as study arms next
 * to the UAEs: a horizontal flip of every image, and a rotation of every image
 * by an angle drawn uniformly from [−deg, deg] per sample (seeded per sample
 * id), bilinear, zero (black) outside the source. Both need image data
 * [H, W, C]; tabular data has no meaningful flip or rotation.
 */
import { Rng, STREAM } from '../tensor/rng.js';

function imageDims(imageShape: readonly number[], arm: string): [number, number, number] {
  if (imageShape.length !== 3 && imageShape.length !== 2) {
    throw new Error(`the "${arm}" arm needs image data [H, W, C]; this dataset's samples are [${imageShape.join(', ')}]`);
  }
  const [h, w, c = 1] = imageShape as [number, number, number?];
  return [h, w, c];
}

/** Every image mirrored left ↔ right. `data` is n × H·W·C, row-major (HWC). */
export function horizontalFlip(data: Float32Array, imageShape: readonly number[]): Float32Array {
  const [h, w, c] = imageDims(imageShape, 'flip');
  const d = h * w * c;
  if (data.length % d !== 0) throw new Error(`data length ${data.length} is not a multiple of ${d}`);
  const out = new Float32Array(data.length);
  for (let base = 0; base < data.length; base += d) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = base + (y * w + (w - 1 - x)) * c;
        const dst = base + (y * w + x) * c;
        for (let k = 0; k < c; k++) out[dst + k] = data[src + k]!;
      }
    }
  }
  return out;
}

/** The rotation angle (degrees) of sample `sampleId`: uniform in [−maxDegrees, maxDegrees]. */
export function rotationAngle(seed: number, sampleId: number, maxDegrees: number): number {
  return new Rng(seed, sampleId, STREAM.augment).uniform() * 2 * maxDegrees - maxDegrees;
}

/** Every image rotated about its centre by its own seeded angle (bilinear; outside the source is 0). */
export function randomRotation(data: Float32Array, imageShape: readonly number[], maxDegrees: number, seed: number): Float32Array {
  const [h, w, c] = imageDims(imageShape, `rotate-${maxDegrees}`);
  if (!(maxDegrees > 0 && maxDegrees <= 180)) throw new Error(`rotation must be in (0, 180] degrees; got ${maxDegrees}`);
  const d = h * w * c;
  if (data.length % d !== 0) throw new Error(`data length ${data.length} is not a multiple of ${d}`);
  const out = new Float32Array(data.length);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  for (let i = 0, base = 0; base < data.length; i++, base += d) {
    const th = (rotationAngle(seed, i, maxDegrees) * Math.PI) / 180;
    const cos = Math.cos(th);
    const sin = Math.sin(th);
    const at = (yy: number, xx: number, k: number) => (yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : data[base + (yy * w + xx) * c + k]!);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // Inverse mapping: the source point that lands on (y, x).
        const sx = cos * (x - cx) + sin * (y - cy) + cx;
        const sy = -sin * (x - cx) + cos * (y - cy) + cy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        for (let k = 0; k < c; k++) {
          const v =
            (1 - fy) * ((1 - fx) * at(y0, x0, k) + fx * at(y0, x0 + 1, k)) + fy * ((1 - fx) * at(y0 + 1, x0, k) + fx * at(y0 + 1, x0 + 1, k));
          out[base + (y * w + x) * c + k] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return out;
}
