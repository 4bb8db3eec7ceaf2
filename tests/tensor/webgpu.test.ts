/**
 * The webgpu backend (Dawn through the optional package `webgpu`) on Mesa's
 * lavapipe, as `npm run setup:webgpu` installs it.
 *
 * - The adapter checks run in child processes with .cache/lavapipe/env.json
 *   (the Vulkan loader reads LD_LIBRARY_PATH at start): they run in the normal
 *   suite once setup has been done, and skip, saying so, otherwise.
 * - The numerical checks run in this process under UAE_BACKEND=webgpu
 *   (`. .cache/lavapipe/env.sh && UAE_BACKEND=webgpu npx vitest run …`).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BackendFaultError, backendInfo, tf, throwIfDeviceFaulted } from '../../libs/tensor/index.js';
import { onBackend, ON_WEBGPU, SKIP_REASON } from './backend-under-test.js';
import { rand, relErr } from './kernel-helpers.js';
import { Rng } from '../../libs/tensor/rng.js';
import { lazyProjectPair } from '../../libs/mine/lazy-projection.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const envFile = `${root}.cache/lavapipe/env.json`;
const lavapipe = existsSync(envFile) ? (JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>) : undefined;
const noSetup = 'no .cache/lavapipe/env.json: run `npm run setup:webgpu` first';
// A fresh node loading tfjs and dawn.node: seconds when idle, minutes beside a busy CPU.
const CHILD_TIMEOUT_MS = 300_000;

/** A fresh node with lavapipe's environment, printing what initBackend chose. */
async function probe(choice: string) {
  const script = "import { initBackend } from './libs/tensor/index.js'; console.log(JSON.stringify(await initBackend()));";
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...lavapipe!,
    LD_LIBRARY_PATH: [lavapipe!.LD_LIBRARY_PATH, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    UAE_BACKEND: choice,
  };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe.skipIf(!lavapipe)(`webgpu on lavapipe${lavapipe ? '' : ` [skipped — ${noSetup}]`}`, () => {
  it('reports the software adapter when VK_ICD_FILENAMES points at lavapipe', async () => {
    const info = await probe('webgpu');
    expect(info).toMatchObject({ name: 'webgpu', provider: 'dawn', gpu: false, preferredWorkers: 1, preferredChunk: 1 });
    expect(info.adapter).toMatchObject({ isFallbackAdapter: true, software: true, vulkanIcd: lavapipe!.VK_ICD_FILENAMES });
    expect(info.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
  }, CHILD_TIMEOUT_MS);

  it('auto never picks the software adapter: it keeps wasm', async () => {
    expect((await probe('auto')).name).toBe('wasm');
  }, CHILD_TIMEOUT_MS);
});

/** Runs f on a backend and reads its results asynchronously (webgpu has no dataSync). */
async function on(backend: 'cpu' | 'webgpu', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  try {
    const ts = tf.tidy(f);
    const out = await Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(ts);
    return out;
  } finally {
    await tf.setBackend('webgpu');
  }
}

describe.skipIf(!ON_WEBGPU || SKIP_REASON !== undefined)(onBackend('webgpu numerics'), () => {
  it('runs tfjs on webgpu with the adapter reported by backendInfo()', () => {
    expect(tf.getBackend()).toBe('webgpu');
    expect(backendInfo().adapter).toBeDefined();
    // Small ops would otherwise run on cpu, and these checks would test cpu.
    expect(tf.env().getBool('WEBGPU_CPU_FORWARD')).toBe(false);
  });

  it('gives a conv net the gradients cpu gives (batch 1, relative error < 1e-5), leaking nothing', async () => {
    // conv 3×3 (1→4) → relu → maxPool 2 → dense 36→3 → softmax cross-entropy: the
    // kernels and gradients the attack and MINE use on image data.
    const x0 = rand(1 * 12 * 12, 1, 0, 1);
    const w0 = rand(3 * 3 * 1 * 4, 2, -0.5, 0.5);
    const v0 = rand(36 * 4 * 3, 3, -0.3, 0.3);
    const net = () => {
      const x = tf.tensor4d(x0, [1, 12, 12, 1]);
      const w = tf.tensor4d(w0, [3, 3, 1, 4]);
      const v = tf.tensor2d(v0, [144, 3]);
      const loss = (xi: tf.Tensor, wi: tf.Tensor, vi: tf.Tensor) => {
        const h = tf.maxPool(tf.relu(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same')), 2, 2, 'valid');
        const logits = tf.matMul(tf.reshape(h, [1, 144]), vi as tf.Tensor2D);
        return tf.losses.softmaxCrossEntropy(tf.oneHot([1], 3), logits);
      };
      const { value, grads } = tf.valueAndGrads(loss)([x, w, v]);
      return [value, ...grads];
    };
    const before = tf.memory().numTensors;
    const gpu = await on('webgpu', net);
    const cpu = await on('cpu', net);
    expect(tf.memory().numTensors).toBe(before);
    gpu.forEach((g, i) => expect(relErr(g, cpu[i]!), `output ${i}`).toBeLessThan(1e-5));
  });

  it('draws lazy random projections on the device (no synchronous read): X, Y and A·g as on cpu for the same streams', async () => {
    // The random sampler's default (redraw) mode inside a gradient, as the attack runs it: 2 samples, d = 12.
    const d = 12;
    const x0 = rand(2 * d, 4, 0, 1);
    const y0 = rand(2 * d, 5, 0, 1);
    const pair = () => {
      const rngs = [new Rng(7, 0, 3), new Rng(7, 1, 3)];
      const x = tf.tensor2d(x0, [2, d]);
      let X: tf.Tensor | undefined;
      const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => {
        const p = lazyProjectPair(x, v, rngs, 40, 8);
        X = tf.keep(p.X);
        return tf.sum(tf.square(p.Y)) as tf.Scalar;
      })(tf.tensor2d(y0, [2, d]));
      return [X!, value, grad];
    };
    const before = tf.memory().numTensors;
    const gpu = await on('webgpu', pair);
    const cpu = await on('cpu', pair);
    expect(tf.memory().numTensors).toBe(before);
    gpu.forEach((g, i) => expect(relErr(g, cpu[i]!), `output ${i}`).toBeLessThan(1e-5));
    throwIfDeviceFaulted();
  });

  it('reports the binding limit and fails a computation the device dropped instead of returning its zeros', async () => {
    const limit = backendInfo().maxBindingBytes!;
    expect(limit).toBe(Math.min(backendInfo().adapter!.limits.maxStorageBufferBindingSize, backendInfo().adapter!.limits.maxBufferSize));
    throwIfDeviceFaulted(); // nothing pending
    // One float more than a binding holds: Dawn rejects the bind group and drops the command.
    const big = tf.fill([limit / 4 + 1], 1);
    const plusOne = tf.add(big, 1);
    const head = tf.slice(plusOne, [0], [4]);
    await head.data();
    tf.dispose([big, plusOne, head]);
    expect(() => throwIfDeviceFaulted()).toThrow(BackendFaultError);
    expect(() => throwIfDeviceFaulted()).not.toThrow(); // reported once
    // Within the limit the same computation is right.
    const ok = tf.tidy(() => tf.add(tf.fill([1024], 1), 1));
    expect(Array.from(await ok.data()).every((v) => v === 2)).toBe(true);
    ok.dispose();
    throwIfDeviceFaulted();
  });
});
