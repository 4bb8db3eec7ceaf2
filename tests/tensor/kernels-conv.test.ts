/**
 * Our wasm Conv2DBackpropFilter / Conv2DBackpropInput against the cpu
 * backend's kernels, directly and through tf.grad of conv2d.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { leakCheck, rand, relErr, setupWasm, size, tf, wasmVsCpu } from './kernel-helpers.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  fh: number;
  fw: number;
  strides: number | [number, number];
  pad: Pad;
}

const TOL = 1e-4;

function cases(): Case[] {
  const out: Case[] = [];
  const pads: Pad[] = [
    'same',
    'valid',
    1,
    2,
    [
      [0, 0],
      [1, 2],
      [0, 3],
      [0, 0],
    ],
  ];
  const strides: (number | [number, number])[] = [1, 2, [2, 1], [1, 3]];
  const geoms = [
    { n: 1, h: 7, w: 7, cin: 1, cout: 2, fh: 3, fw: 3 },
    { n: 3, h: 8, w: 9, cin: 3, cout: 4, fh: 5, fw: 5 },
    { n: 2, h: 6, w: 5, cin: 2, cout: 3, fh: 2, fw: 3 },
    { n: 4, h: 5, w: 5, cin: 3, cout: 2, fh: 1, fw: 1 },
    // ≥ 5 input channels: Conv2DBackpropInput takes its conv path (≤ 4: col2im).
    { n: 2, h: 7, w: 6, cin: 6, cout: 5, fh: 3, fw: 3 },
  ];
  let i = 0;
  for (const g of geoms) {
    for (const s of strides) {
      for (const pad of pads) {
        // Thin the grid a little, keeping every (geometry, stride) and every pad.
        if (i++ % 3 === 2 && typeof pad !== 'string') continue;
        out.push({ ...g, strides: s, pad });
      }
    }
  }
  return out;
}

function outShape(c: Case): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(
    [c.n, c.h, c.w, c.cin],
    [c.fh, c.fw, c.cin, c.cout],
    c.strides,
    1,
    c.pad,
  );
  return info.outShape;
}

const label = (c: Case) =>
  `x[${c.n},${c.h},${c.w},${c.cin}] f${c.fh}x${c.fw}→${c.cout} s${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`;

beforeAll(async () => {
  await setupWasm();
});

describe('wasm Conv2DBackpropFilter', () => {
  const all = cases();
  it(`matches cpu on ${all.length} shape cases`, async () => {
    const failures: string[] = [];
    for (const [k, c] of all.entries()) {
      const ys = outShape(c);
      if (size(ys) === 0) continue;
      const xv = rand(c.n * c.h * c.w * c.cin, 10 + k);
      const dyv = rand(size(ys), 1000 + k);
      const { err } = await wasmVsCpu(() =>
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.tensor4d(xv, [c.n, c.h, c.w, c.cin]), dy: tf.tensor4d(dyv, ys) },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.fh, c.fw, c.cin, c.cout] } as never,
        ) as tf.Tensor,
      );
      if (!(err <= TOL)) failures.push(`${label(c)}: ${err}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('wasm Conv2DBackpropInput', () => {
  const all = cases();
  it(`matches cpu on ${all.length} shape cases`, async () => {
    const failures: string[] = [];
    for (const [k, c] of all.entries()) {
      const ys = outShape(c);
      if (size(ys) === 0) continue;
      const fv = rand(c.fh * c.fw * c.cin * c.cout, 20 + k);
      const dyv = rand(size(ys), 2000 + k);
      const { err } = await wasmVsCpu(() =>
        tf.engine().runKernel(
          'Conv2DBackpropInput',
          { dy: tf.tensor4d(dyv, ys), filter: tf.tensor4d(fv, [c.fh, c.fw, c.cin, c.cout]) },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, c.h, c.w, c.cin] } as never,
        ) as tf.Tensor,
      );
      if (!(err <= TOL)) failures.push(`${label(c)}: ${err}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('tf.grad of conv2d on wasm', () => {
  const picked: Case[] = [
    { n: 1, h: 9, w: 9, cin: 2, cout: 3, fh: 5, fw: 5, strides: 1, pad: 'same' },
    { n: 3, h: 10, w: 8, cin: 3, cout: 2, fh: 3, fw: 3, strides: 2, pad: 'same' },
    { n: 2, h: 9, w: 7, cin: 1, cout: 4, fh: 3, fw: 2, strides: [2, 1], pad: 'valid' },
    { n: 2, h: 6, w: 6, cin: 2, cout: 2, fh: 3, fw: 3, strides: 2, pad: 1 },
    { n: 2, h: 8, w: 8, cin: 8, cout: 4, fh: 5, fw: 5, strides: 1, pad: 'same' },
    { n: 3, h: 9, w: 8, cin: 6, cout: 3, fh: 3, fw: 3, strides: 2, pad: 'valid' },
  ];
  for (const [k, c] of picked.entries()) {
    it(`dx and dW match cpu: ${label(c)}`, async () => {
      const xv = rand(c.n * c.h * c.w * c.cin, 300 + k);
      const wv = rand(c.fh * c.fw * c.cin * c.cout, 400 + k);
      const rv = rand(size(outShape(c)), 500 + k);
      const grads = (which: 0 | 1) => () => {
        const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.cin]);
        const w = tf.tensor4d(wv, [c.fh, c.fw, c.cin, c.cout]);
        const r = tf.tensor4d(rv, outShape(c));
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad as never), r)),
        )([x, w]);
        return g[which]!;
      };
      expect((await wasmVsCpu(grads(0))).err).toBeLessThanOrEqual(TOL);
      expect((await wasmVsCpu(grads(1))).err).toBeLessThanOrEqual(TOL);
    });
  }

  it('frees every intermediate (tensors, bytes and wasm buffers stay flat)', () => {
    for (const cin of [3, 6]) {
      // cin 3: BackpropInput via col2im; cin 6: via the flipped-filter conv.
      const x = tf.tensor4d(rand(2 * 8 * 8 * cin, 7), [2, 8, 8, cin]);
      const w = tf.tensor4d(rand(5 * 5 * cin * 4, 8), [5, 5, cin, 4]);
      for (const [strides, pad] of [
        [1, 'same'],
        [2, 'same'],
        [[2, 1], 'valid'],
        [2, 1],
      ] as const) {
        const leak = leakCheck(() =>
          tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides as never, pad as never)),
          )([x, w]),
        );
        expect(leak, `cin ${cin} strides ${strides} pad ${pad}`).toEqual({ tensors: 0, bytes: 0, dataIds: 0 });
      }
      x.dispose();
      w.dispose();
    }
  });
});

describe('relErr helper', () => {
  it('is relative to the reference magnitude', () => {
    expect(relErr([1, 2], [1, 2.5])).toBeCloseTo(0.2);
  });
});
