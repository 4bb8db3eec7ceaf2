/**
 * SimCLR's augmentations (Chen et al. 2020, Appendix A; the CIFAR-10 recipe)
 * as tensor ops on images [B, H, W, C] in [0, 1], each image with its own
 * parameters drawn in JS from our seeded Rng (libs/tensor/rng.ts), so a seed
 * gives the same views on every backend:
 *
 * 1. random resized crop: area share U(0.08, 1), aspect ratio log-uniform in
 *    [3/4, 4/3] (torchvision's RandomResizedCrop: 10 tries, else a centre
 *    crop of the clamped ratio), resized back to H×W with bilinear
 *    tf.image.cropAndResize (corner-aligned sampling: the crop's first and
 *    last pixel rows land on the output's);
 * 2. horizontal flip with p 0.5 (the crop box with x₁ and x₂ swapped);
 * 3. colour jitter with p 0.8: brightness, contrast, saturation, each a
 *    factor U(1 − 0.4, 1 + 0.4) applied as torchvision does (x·b; c·x + (1 − c)·mean
 *    grey level of the image; s·x + (1 − s)·grey(x)), clipped to [0, 1], in this
 *    fixed order (torchvision shuffles it). Hue is skipped: tfjs has no HSV
 *    conversion, and SimCLR's CIFAR hue strength (0.1) is the weakest part;
 * 4. random greyscale with p 0.2 (ITU-R 601 weights 0.299, 0.587, 0.114).
 *
 * Saturation and greyscale need RGB: images of another channel count (1 for
 * Fashion-MNIST) get crop, flip, brightness and contrast only.
 *
 * tf.image.cropAndResize has no gradient in tfjs; `differentiable: true`
 * applies the same crop as two bilinear interpolation matrices per image
 * (batched matMuls, equal to cropAndResize up to float rounding; the tests
 * check), which the per-sample loss needs for gradients with respect to x.
 */
import { tf } from '../../tensor/index.js';
import { Rng, STREAM } from '../../tensor/rng.js';
import { ModelInputError } from '../autoencoders.js';

export interface SimclrAugmentOptions {
  /** Crop area as a share of the image: default [0.08, 1]. */
  scale?: readonly [number, number];
  /** Crop aspect ratio (width / height): default [3/4, 4/3]. */
  ratio?: readonly [number, number];
  /** Probability of a horizontal flip: 0.5. */
  flip?: number;
  /** Probability of the colour jitter: 0.8. */
  jitter?: number;
  /** Jitter strengths: factors drawn from U(max(0, 1 − s), 1 + s); 0.4 each. */
  brightness?: number;
  contrast?: number;
  saturation?: number;
  /** Probability of greyscale (RGB only): 0.2. */
  grayscale?: number;
}

export const SIMCLR_AUGMENT_DEFAULTS = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  flip: 0.5,
  jitter: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  grayscale: 0.2,
} as const satisfies Required<SimclrAugmentOptions>;

export type ResolvedAugmentOptions = { -readonly [K in keyof SimclrAugmentOptions]-?: SimclrAugmentOptions[K] & {} };

export function resolveAugmentOptions(opts: SimclrAugmentOptions = {}): ResolvedAugmentOptions {
  const o = { ...SIMCLR_AUGMENT_DEFAULTS, ...opts } as ResolvedAugmentOptions;
  const range = (name: 'scale' | 'ratio', lo: number) => {
    const [a, b] = o[name];
    if (!(a > lo && a <= b && Number.isFinite(b))) throw new ModelInputError(`augment.${name} must be [lo, hi] with ${lo} < lo ≤ hi, got [${a}, ${b}]`, `augment.${name}`);
  };
  range('scale', 0);
  range('ratio', 0);
  if (o.scale[1] > 1) throw new ModelInputError(`augment.scale's upper end must be ≤ 1, got ${o.scale[1]}`, 'augment.scale');
  for (const k of ['flip', 'jitter', 'grayscale'] as const) {
    if (!(o[k] >= 0 && o[k] <= 1)) throw new ModelInputError(`augment.${k} is a probability in [0, 1], got ${o[k]}`, `augment.${k}`);
  }
  for (const k of ['brightness', 'contrast', 'saturation'] as const) {
    if (!(o[k] >= 0 && Number.isFinite(o[k]))) throw new ModelInputError(`augment.${k} must be ≥ 0, got ${o[k]}`, `augment.${k}`);
  }
  return { ...o, scale: [...o.scale] as [number, number], ratio: [...o.ratio] as [number, number] };
}

/** One set of augmentation parameters per image. */
export interface AugmentParams {
  count: number;
  /** [count × 4]: y₁, x₁, y₂, x₂ of the crop, normalised as cropAndResize takes them (x₁ > x₂: flipped). */
  boxes: Float32Array;
  /** Jitter factors (1 where the jitter is not applied). */
  brightness: Float32Array;
  contrast: Float32Array;
  saturation: Float32Array;
  /** 1: greyscale, 0: keep colour. */
  grayscale: Float32Array;
}

/** Our sub-stream of STREAM.augment (the conventional augmentations use the stream's other keys). */
export const SIMCLR_AUGMENT_KEY = 0x51c1;

/** The Rng of SimCLR views keyed by `keys` (seed first, then e.g. epoch, batch, view). */
export function augmentRng(seed: number, ...keys: number[]): Rng {
  return new Rng(seed, STREAM.augment, SIMCLR_AUGMENT_KEY, ...keys);
}

/** torchvision's RandomResizedCrop.get_params: [top, left, height, width] in pixels. */
function drawCrop(h: number, w: number, rng: Rng, scale: readonly number[], ratio: readonly number[]): [number, number, number, number] {
  const area = h * w;
  const [logLo, logHi] = [Math.log(ratio[0]!), Math.log(ratio[1]!)];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0]! + (scale[1]! - scale[0]!) * rng.uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.uniform());
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) return [rng.int(h - ch + 1), rng.int(w - cw + 1), ch, cw];
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]!) ch = Math.round(w / ratio[0]!);
  else if (inRatio > ratio[1]!) cw = Math.round(h * ratio[1]!);
  return [Math.floor((h - ch) / 2), Math.floor((w - cw) / 2), ch, cw];
}

/** Draws `count` images' parameters from `rng`, image after image, in a fixed order. */
export function drawAugmentParams(count: number, h: number, w: number, rng: Rng, opts: ResolvedAugmentOptions): AugmentParams {
  const p: AugmentParams = {
    count,
    boxes: new Float32Array(count * 4),
    brightness: new Float32Array(count).fill(1),
    contrast: new Float32Array(count).fill(1),
    saturation: new Float32Array(count).fill(1),
    grayscale: new Float32Array(count),
  };
  const norm = (v: number, size: number) => (size > 1 ? v / (size - 1) : 0);
  const factor = (s: number) => Math.max(0, 1 - s) + (1 + s - Math.max(0, 1 - s)) * rng.uniform();
  for (let i = 0; i < count; i++) {
    const [top, left, ch, cw] = drawCrop(h, w, rng, opts.scale, opts.ratio);
    let x1 = norm(left, w);
    let x2 = norm(left + cw - 1, w);
    if (rng.uniform() < opts.flip) [x1, x2] = [x2, x1];
    p.boxes.set([norm(top, h), x1, norm(top + ch - 1, h), x2], i * 4);
    const jitter = rng.uniform() < opts.jitter;
    const [b, c, s] = [factor(opts.brightness), factor(opts.contrast), factor(opts.saturation)];
    if (jitter) {
      p.brightness[i] = b;
      p.contrast[i] = c;
      p.saturation[i] = s;
    }
    p.grayscale[i] = rng.uniform() < opts.grayscale ? 1 : 0;
  }
  return p;
}

/** `p` for one image repeated `count` times (every sample of a batch gets the same augmentation). */
export function repeatParams(p: AugmentParams, count: number): AugmentParams {
  if (p.count !== 1) throw new Error(`repeatParams takes one image's parameters, got ${p.count}`);
  const rep = (a: Float32Array, n: number) => {
    const out = new Float32Array(count * n);
    for (let i = 0; i < count; i++) out.set(a, i * n);
    return out;
  };
  return {
    count,
    boxes: rep(p.boxes, 4),
    brightness: rep(p.brightness, 1),
    contrast: rep(p.contrast, 1),
    saturation: rep(p.saturation, 1),
    grayscale: rep(p.grayscale, 1),
  };
}

/**
 * Bilinear sampling matrices [count, out, size] of one axis, as
 * tf.image.cropAndResize samples it: output i reads input position
 * a·(size − 1) + i·(b − a)·(size − 1)/(out − 1), interpolating its two neighbours.
 */
function samplingMatrices(boxes: Float32Array, count: number, axis: 0 | 1, out: number, size: number): Float32Array {
  const m = new Float32Array(count * out * size);
  for (let n = 0; n < count; n++) {
    const a = boxes[n * 4 + axis]!;
    const b = boxes[n * 4 + axis + 2]!;
    for (let i = 0; i < out; i++) {
      const raw = out > 1 ? a * (size - 1) + (i * (b - a) * (size - 1)) / (out - 1) : 0.5 * (a + b) * (size - 1);
      const pos = Math.min(Math.max(raw, 0), size - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(Math.ceil(pos), size - 1);
      const t = pos - lo;
      const row = (n * out + i) * size;
      m[row + lo] += 1 - t;
      m[row + hi] += t;
    }
  }
  return m;
}

const GREY = [0.299, 0.587, 0.114];

/** Grey level [B, H, W, 1] of RGB images. */
function grey(x: tf.Tensor4D): tf.Tensor4D {
  return tf.sum(tf.mul(x, tf.tensor1d(GREY)), -1, true) as tf.Tensor4D;
}

/**
 * Applies `p` to `x` [count, H, W, C] (values in [0, 1]); same shape, values in
 * [0, 1]. `differentiable`: the crop as interpolation matrices (gradients flow
 * to x) instead of tf.image.cropAndResize.
 */
export function applyAugmentation(x: tf.Tensor4D, p: AugmentParams, differentiable = false): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (b !== p.count) throw new Error(`${b} images but parameters for ${p.count}`);
  return tf.tidy(() => {
    let y: tf.Tensor4D;
    if (!differentiable) {
      y = tf.image.cropAndResize(x, tf.tensor2d(p.boxes, [b, 4]), tf.range(0, b, 1, 'int32') as tf.Tensor1D, [h, w], 'bilinear');
    } else {
      const ry = tf.tensor3d(samplingMatrices(p.boxes, b, 0, h, h), [b, h, h]);
      const rx = tf.tensor3d(samplingMatrices(p.boxes, b, 1, w, w), [b, w, w]);
      // rows: [b, h, h]·[b, h, w·c]; then columns on [b, w, h·c].
      const rows = tf.reshape(tf.matMul(ry, tf.reshape(x, [b, h, w * c])), [b, h, w, c]);
      const cols = tf.matMul(rx, tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [b, w, h * c]));
      y = tf.transpose(tf.reshape(cols, [b, w, h, c]), [0, 2, 1, 3]);
    }
    const f = (a: Float32Array) => tf.tensor4d(a, [b, 1, 1, 1]);
    y = tf.clipByValue(tf.mul(y, f(p.brightness)), 0, 1);
    const rgb = c === 3;
    const contrast = f(p.contrast);
    const mean = tf.mean(rgb ? grey(y) : y, [1, 2, 3], true);
    y = tf.clipByValue(tf.add(tf.mul(contrast, y), tf.mul(tf.sub(1, contrast), mean)), 0, 1);
    if (rgb) {
      const s = f(p.saturation);
      y = tf.clipByValue(tf.add(tf.mul(s, y), tf.mul(tf.sub(1, s), grey(y))), 0, 1);
      const g = f(p.grayscale);
      y = tf.add(y, tf.mul(g, tf.sub(grey(y), y)));
    }
    return y;
  });
}

export function checkImages(x: tf.Tensor, field = 'x'): asserts x is tf.Tensor4D {
  if (x.rank !== 4) throw new ModelInputError(`SimCLR augmentations take images [B, H, W, C], got [${x.shape.join(', ')}]`, field);
}

/**
 * SimCLR views of `x` [B, H, W, C] in [0, 1], each image with its own
 * parameters from augmentRng(seed, ...keys): deterministic in (seed, keys).
 */
export function simclrAugment(x: tf.Tensor4D, seed: number, keys: number[] = [], opts: SimclrAugmentOptions = {}, differentiable = false): tf.Tensor4D {
  checkImages(x);
  const [b, h, w] = x.shape;
  const p = drawAugmentParams(b, h, w, augmentRng(seed, ...keys), resolveAugmentOptions(opts));
  return applyAugmentation(x, p, differentiable);
}
