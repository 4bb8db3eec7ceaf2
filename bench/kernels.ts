/**
 * Times our wasm kernels against what they replace (`npx tsx bench/kernels.ts`):
 * the built-in wasm kernel where there is one, else the cpu backend's kernel;
 * then one conv-autoencoder training step on wasm (ours), wasm with the
 * built-in BatchMatMul/Conv2DBackpropInput, and cpu. Prints a table.
 * Results are recorded in docs/kernels.md.
 */
import * as tfl from '@tensorflow/tfjs-layers'; // also registers the gradients
import { initBackend, tf } from '../libs/tensor/index.js';
import { originalKernel, registerUaeKernels } from '../libs/tensor/kernels/register.js';
import { buildConvAE } from '../libs/models/index.js';
import { KerasAdadelta } from '../libs/models/adadelta.js';

interface Row {
  what: string;
  baseline: string;
  baseMs: number;
  oursMs: number;
}
const rows: Row[] = [];

/**
 * Best wall time of `f` (which must force its result) after `warmups` runs.
 * The minimum, not the median: other processes share the cores.
 */
function time(f: () => void, minReps = 3, budgetMs = 1500, warmups = 1): number {
  for (let i = 0; i < warmups; i++) f();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < minReps || (performance.now() - start < budgetMs && ts.length < 20)) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return Math.min(...ts);
}

/** Runs `f` with the built-in wasm kernel `name` registered instead of ours. */
function withBuiltIn<T>(names: string[], f: () => T): T {
  const ours = names.map((n) => tf.getKernel(n, 'wasm')!);
  for (const n of names) {
    tf.unregisterKernel(n, 'wasm');
    tf.registerKernel(originalKernel(n, 'wasm'));
  }
  try {
    return f();
  } finally {
    for (const [i, n] of names.entries()) {
      tf.unregisterKernel(n, 'wasm');
      tf.registerKernel(ours[i]!);
    }
  }
}

function run(name: string, inputs: tf.NamedTensorMap, attrs: object): () => void {
  return () => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
    out.dataSync();
    out.dispose();
  };
}

function rand(shape: number[]): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', 7);
}

async function onCpu<T>(f: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend('wasm');
  }
}

const CONV_LAYERS = [
  { label: 'enc1 28×28×1→16', x: [64, 28, 28, 1], f: [5, 5, 1, 16] },
  { label: 'enc2 14×14×16→8', x: [64, 14, 14, 16], f: [5, 5, 16, 8] },
  { label: 'enc3 7×7×8→8', x: [64, 7, 7, 8], f: [5, 5, 8, 8] },
  { label: 'dec1 14×14×8→16', x: [64, 14, 14, 8], f: [5, 5, 8, 16] },
  { label: 'dec2 28×28×16→1', x: [64, 28, 28, 16], f: [5, 5, 16, 1] },
];

/** The reference conv AE (libs/models), compiled with the project's Keras-semantics Adadelta. */
function convAutoencoder(): tfl.Sequential {
  const model = buildConvAE([28, 28, 1], { seed: 1 });
  model.compile({ optimizer: new KerasAdadelta(1), loss: 'binaryCrossentropy' });
  return model;
}

async function trainStepMs(backend: 'wasm' | 'cpu', reps: number, warmups: number): Promise<number> {
  if (tf.getBackend() !== backend) await tf.setBackend(backend);
  const model = convAutoencoder();
  const x = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 3);
  for (let i = 0; i < warmups; i++) await model.trainOnBatch(x, x);
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await model.trainOnBatch(x, x);
    ts.push(performance.now() - t0);
  }
  x.dispose();
  model.dispose();
  return Math.min(...ts);
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  registerUaeKernels('cpu');
  console.log(`backend ${info.provider}, tfjs ${tf.version_core}, node ${process.version}; best of several runs, ms`);

  // BatchMatMul
  {
    const a = rand([1024, 1024]);
    const b = rand([1024, 1024]);
    const f = () => tf.tidy(() => void tf.matMul(a, b, false, true).dataSync());
    const g = () => tf.tidy(() => void tf.matMul(a, b, false, false).dataSync());
    rows.push({ what: 'matMul 1024² transposeB', baseline: 'wasm built-in', baseMs: withBuiltIn(['BatchMatMul'], () => time(f)), oursMs: time(f) });
    rows.push({ what: 'matMul 1024² (no transpose)', baseline: 'wasm built-in', baseMs: withBuiltIn(['BatchMatMul'], () => time(g)), oursMs: time(g) });
    const a3 = rand([8, 256, 256]);
    const b3 = rand([8, 256, 256]);
    const h = () => tf.tidy(() => void tf.matMul(a3, b3).dataSync());
    rows.push({ what: 'matMul [8,256,256]@[8,256,256]', baseline: 'wasm built-in', baseMs: withBuiltIn(['BatchMatMul'], () => time(h)), oursMs: time(h) });
    tf.dispose([a, b, a3, b3]);
  }

  // Transpose: built-in and ours alternated, best of each (shared cores).
  for (const [shape, perm, label] of [
    [[512, 11664], [1, 0], '[512,11664]ᵀ'],
    [[11664, 512], [1, 0], '[11664,512]ᵀ'],
    [[8, 256, 256], [0, 2, 1], '[8,256,256] perm 0,2,1'],
    [[64, 28, 28, 16], [0, 3, 1, 2], '[64,28,28,16] NHWC→NCHW'],
    [[64, 28, 28, 16], [3, 1, 2, 0], '[64,28,28,16] perm 3,1,2,0 (delegated)'],
  ] as [number[], number[], string][]) {
    const x = rand(shape);
    // No dataSync: wasm kernels run synchronously, and copying the result out
    // of the heap would cost as much as the transpose.
    const f = () => (tf.engine().runKernel('Transpose', { x }, { perm }) as tf.Tensor).dispose();
    let baseMs = Infinity;
    let oursMs = Infinity;
    for (let i = 0; i < 3; i++) {
      baseMs = Math.min(baseMs, withBuiltIn(['Transpose'], () => time(f, 3, 400)));
      oursMs = Math.min(oursMs, time(f, 3, 400));
    }
    const ns = (ms: number) => ((ms * 1e6) / x.size).toFixed(2);
    console.log(`Transpose ${label}: built-in ${ns(baseMs)} ns/element, ours ${ns(oursMs)} ns/element`);
    rows.push({ what: `Transpose ${label}`, baseline: 'wasm built-in', baseMs, oursMs });
    x.dispose();
  }

  // Conv2D backprops, conv-AE layer shapes (batch 64, 5×5, same).
  for (const layer of CONV_LAYERS) {
    const [n, hh, ww] = layer.x as [number, number, number, number];
    const cout = layer.f[3]!;
    const x = rand(layer.x);
    const w = rand(layer.f);
    const dy = rand([n, hh, ww, cout]);
    const common = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
    const bi = run('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: layer.x });
    rows.push({
      what: `Conv2DBackpropInput ${layer.label}`,
      baseline: 'wasm built-in',
      baseMs: withBuiltIn(['Conv2DBackpropInput'], () => time(bi)),
      oursMs: time(bi),
    });
    const bf = run('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: layer.f });
    const cpuMs = await onCpu(() => {
      const xc = tf.tensor(x.dataSync(), x.shape);
      const dyc = tf.tensor(dy.dataSync(), dy.shape);
      // Seconds per call: one run, no warm-up.
      const ms = time(run('Conv2DBackpropFilter', { x: xc, dy: dyc }, { ...common, filterShape: layer.f }), 1, 0, 0);
      tf.dispose([xc, dyc]);
      return ms;
    });
    rows.push({ what: `Conv2DBackpropFilter ${layer.label}`, baseline: 'cpu (wasm has none)', baseMs: cpuMs, oursMs: time(bf) });
    tf.dispose([x, w, dy]);
  }

  // Pooling / upsampling gradients of the conv-AE (built-ins are wrong in
  // corner cases; this is what the fix costs or saves).
  for (const [xs, label] of [
    [[64, 28, 28, 16], '[64,28,28,16]'],
    [[64, 14, 14, 8], '[64,14,14,8]'],
  ] as [number[], string][]) {
    const x = rand(xs);
    const y = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
    const dy = rand(y.shape);
    const f = run('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' });
    rows.push({ what: `MaxPoolGrad 2×2 ${label}`, baseline: 'wasm built-in', baseMs: withBuiltIn(['MaxPoolGrad'], () => time(f)), oursMs: time(f) });
    tf.dispose([x, y, dy]);
  }
  for (const [xs, label] of [
    [[64, 7, 7, 8], '[64,7,7,8]→14²'],
    [[64, 14, 14, 16], '[64,14,14,16]→28²'],
  ] as [number[], string][]) {
    const images = rand(xs);
    const dy = rand([xs[0]!, xs[1]! * 2, xs[2]! * 2, xs[3]!]);
    const f = run('ResizeNearestNeighborGrad', { images, dy }, { alignCorners: false, halfPixelCenters: false });
    rows.push({
      what: `ResizeNearestNeighborGrad ${label}`,
      baseline: 'wasm built-in',
      baseMs: withBuiltIn(['ResizeNearestNeighborGrad'], () => time(f)),
      oursMs: time(f),
    });
    tf.dispose([images, dy]);
  }
  {
    // The gradient of gather: 1024 rows of 32 into 256 segments (cpu's kernel
    // is O(segments × size(x)): 10000 segments of 4096×64 take minutes).
    const x = rand([1024, 32]);
    const ids = tf.randomUniformInt([1024], 0, 256, 5);
    const f = run('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 256 });
    const cpuMs = await onCpu(() => {
      const xc = tf.tensor(x.dataSync(), x.shape);
      const ic = tf.tensor(ids.dataSync(), ids.shape, 'int32');
      const ms = time(run('UnsortedSegmentSum', { x: xc, segmentIds: ic }, { numSegments: 256 }), 1, 0, 0);
      tf.dispose([xc, ic]);
      return ms;
    });
    rows.push({ what: 'UnsortedSegmentSum [1024,32]→256', baseline: 'cpu (wasm has none)', baseMs: cpuMs, oursMs: time(f) });
    tf.dispose([x, ids]);
  }

  // A whole training step.
  const ours = await trainStepMs('wasm', 5, 3);
  const builtIns = await withBuiltInAsync(['BatchMatMul', 'Conv2DBackpropInput'], () => trainStepMs('wasm', 5, 3));
  const cpu = await trainStepMs('cpu', 1, 1);
  await tf.setBackend('wasm');
  rows.push({ what: 'conv-AE train step, batch 64', baseline: 'wasm, built-in BMM+BackpropInput', baseMs: builtIns, oursMs: ours });
  rows.push({ what: 'conv-AE train step, batch 64', baseline: 'cpu backend', baseMs: cpu, oursMs: ours });

  const w1 = Math.max(...rows.map((r) => r.what.length));
  const w2 = Math.max(...rows.map((r) => r.baseline.length));
  const line = (a: string, b: string, c: string, d: string, e: string) =>
    `| ${a.padEnd(w1)} | ${b.padEnd(w2)} | ${c.padStart(10)} | ${d.padStart(9)} | ${e.padStart(7)} |`;
  console.log(line('what', 'baseline', 'base ms', 'ours ms', 'speedup'));
  console.log(line('-'.repeat(w1), '-'.repeat(w2), '-'.repeat(10), '-'.repeat(9), '-'.repeat(7)));
  for (const r of rows) {
    console.log(line(r.what, r.baseline, r.baseMs.toFixed(1), r.oursMs.toFixed(1), `${(r.baseMs / r.oursMs).toFixed(1)}×`));
  }
}

async function withBuiltInAsync<T>(names: string[], f: () => Promise<T>): Promise<T> {
  const ours = names.map((n) => tf.getKernel(n, 'wasm')!);
  for (const n of names) {
    tf.unregisterKernel(n, 'wasm');
    tf.registerKernel(originalKernel(n, 'wasm'));
  }
  try {
    return await f();
  } finally {
    for (const [i, n] of names.entries()) {
      tf.unregisterKernel(n, 'wasm');
      tf.registerKernel(ours[i]!);
    }
  }
}

await main();
