/**
 * SimCLR's encoders (Chen et al. 2020; the paper's Section 4.6, Table 7):
 * CIFAR-style ResNets built with the tfjs-layers functional API (skip
 * connections are tfl.layers.add), so they save and load like every model of
 * the zoo. A ResNet here is a 3×3 stem conv (no max-pool, the CIFAR variant),
 * stages of BasicBlocks (3×3 conv → BN → ReLU → 3×3 conv → BN, plus the
 * shortcut: identity, or a 1×1 conv with the block's stride → BN where the
 * shape changes; then ReLU) and a global average pool: the features.
 *
 * - `resnet18`: stem 64, 4 stages of 2 blocks, widths 64/128/256/512,
 *   strides 1/2/2/2 → 512-d features (He et al. 2016, the CIFAR stem of the
 *   SimCLR paper's Appendix B.9).
 * - `small`, for CPUs: stem 16, 3 stages of 1 block, widths 16/32/64,
 *   strides 1/2/2 → 64-d features.
 *
 * Widths scale by `widthMultiplier` (rounded, at least 1) so tests can build
 * tiny ones. Convs have no bias (batch norm follows each); batch norm uses
 * momentum 0.9 and ε 1e-5 (PyTorch's defaults, which SimCLR's reference code
 * runs with; Keras' 0.99 barely moves the moving statistics in a short CPU run).
 * Kernels are He-normal with a per-layer seed derived from the model seed.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, STREAM } from '../../tensor/rng.js';
import { ModelInputError } from '../autoencoders.js';

export interface ResnetSpec {
  /** Filters of the 3×3 stem conv. */
  stem: number;
  /** Filters of each stage's blocks. */
  widths: readonly number[];
  /** BasicBlocks per stage. */
  blocks: readonly number[];
  /** Stride of each stage's first block. */
  strides: readonly number[];
}

export type ResnetName = 'resnet18' | 'small';

export const RESNET_SPECS: Readonly<Record<ResnetName, ResnetSpec>> = {
  resnet18: { stem: 64, widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], strides: [1, 2, 2, 2] },
  small: { stem: 16, widths: [16, 32, 64], blocks: [1, 1, 1], strides: [1, 2, 2] },
};

export const BATCH_NORM = { momentum: 0.9, epsilon: 1e-5 } as const;

/** `spec` with every width times `m` (rounded, ≥ 1). */
export function scaleSpec(spec: ResnetSpec, m: number): ResnetSpec {
  if (!(m > 0) || !Number.isFinite(m)) throw new ModelInputError(`widthMultiplier must be a positive number, got ${m}`, 'widthMultiplier');
  const s = (w: number) => Math.max(1, Math.round(w * m));
  return { ...spec, stem: s(spec.stem), widths: spec.widths.map(s) };
}

/** He-normal (the ResNet initialiser) with a per-layer seed derived from the model seed. */
export function heInitializer(seed: number | undefined, layer: number) {
  return tfl.initializers.heNormal(seed === undefined ? {} : { seed: new Rng(seed, STREAM.modelInit, layer).nextU32() });
}

/**
 * The encoder's layers applied to `input` ([H, W, C] images); returns the
 * features ([B, last width]) as a symbolic tensor. Layer names start with
 * `prefix`; kernel seeds count from `firstLayer`.
 */
export function resnetEncoder(
  input: tfl.SymbolicTensor,
  spec: ResnetSpec,
  opts: { seed?: number; prefix?: string; firstLayer?: number } = {},
): tfl.SymbolicTensor {
  const prefix = opts.prefix ?? 'encoder_';
  let layer = opts.firstLayer ?? 0;
  const conv = (x: tfl.SymbolicTensor, filters: number, kernelSize: number, strides: number, name: string) =>
    tfl.layers
      .conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: heInitializer(opts.seed, layer++), name: prefix + name })
      .apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor, name: string) =>
    tfl.layers.batchNormalization({ ...BATCH_NORM, name: prefix + name }).apply(x) as tfl.SymbolicTensor;
  const relu = (x: tfl.SymbolicTensor, name: string) => tfl.layers.reLU({ name: prefix + name }).apply(x) as tfl.SymbolicTensor;

  let h = relu(bn(conv(input, spec.stem, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  let channels = spec.stem;
  spec.widths.forEach((width, s) => {
    for (let b = 0; b < spec.blocks[s]!; b++) {
      const stride = b === 0 ? spec.strides[s]! : 1;
      const n = `s${s + 1}b${b + 1}_`;
      let y = relu(bn(conv(h, width, 3, stride, n + 'conv1'), n + 'bn1'), n + 'relu1');
      y = bn(conv(y, width, 3, 1, n + 'conv2'), n + 'bn2');
      const shortcut = stride !== 1 || channels !== width ? bn(conv(h, width, 1, stride, n + 'proj'), n + 'proj_bn') : h;
      h = relu(tfl.layers.add({ name: n + 'add' }).apply([y, shortcut]) as tfl.SymbolicTensor, n + 'relu2');
      channels = width;
    }
  });
  return tfl.layers.globalAveragePooling2d({ name: prefix + 'pool' }).apply(h) as tfl.SymbolicTensor;
}

/**
 * Floating-point operations of one layer for one sample: 2 per
 * multiply–add of Conv2D (k_h·k_w·C_in·C_out·H_out·W_out) and Dense
 * (in·out) layers, plus one per bias add. Batch norm, ReLU, the skip adds and
 * pooling (one or two operations per activation, about 1 % of a ResNet's
 * total) count 0.
 */
export function layerFlops(layer: tfl.layers.Layer): number {
  const cls = layer.getClassName();
  if (cls !== 'Conv2D' && cls !== 'Dense') return 0;
  // Conv2D and Dense keep [kernel, bias?] in that order.
  const kernel = layer.weights[0]!.shape as number[];
  const out = (layer.outputShape as (number | null)[]).slice(1) as number[];
  const positions = out.slice(0, -1).reduce((a, b) => a * b, 1);
  const macs = kernel.reduce((a, b) => a * b, 1) * positions;
  const bias = layer.weights.length > 1 ? positions * out.at(-1)! : 0;
  return 2 * macs + bias;
}

/** Sum of layerFlops over a built model's layers: FLOPs of one sample's forward pass. */
export function modelFlops(model: tfl.LayersModel): number {
  return model.layers.reduce((sum, l) => sum + layerFlops(l), 0);
}
