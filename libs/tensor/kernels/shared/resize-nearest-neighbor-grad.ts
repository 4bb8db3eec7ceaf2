/**
 * The adjoint of tfjs' ResizeNearestNeighbor: every dy pixel is added to the
 * input pixel the forward pass copied it from. The source index follows the
 * cpu forward kernel exactly (alignCorners, halfPixelCenters).
 */

/** Source index of output coordinate `i` along one axis (cpu forward's formula). */
export function nearestSource(
  i: number,
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixelCenters ? ratio * (i + 0.5) : ratio * i;
  let src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixelCenters) src = Math.max(0, src);
  return src;
}

/**
 * dx[n, sy(y), sx(x), c] += dy[n, y, x, c] for NHWC `imagesShape` and `dyShape`.
 * `dx` must be zeroed.
 */
export function resizeNearestNeighborGradLoop(
  dy: ArrayLike<number>,
  dyShape: readonly number[],
  imagesShape: readonly number[],
  alignCorners: boolean,
  halfPixelCenters: boolean,
  dx: Float32Array,
): void {
  const [batch, inH, inW, ch] = imagesShape as [number, number, number, number];
  const [, outH, outW] = dyShape as [number, number, number, number];
  const srcCol = new Int32Array(outW);
  for (let x = 0; x < outW; x++) srcCol[x] = nearestSource(x, inW, outW, alignCorners, halfPixelCenters);
  let dyOff = 0;
  for (let n = 0; n < batch; n++) {
    const dxBatch = n * inH * inW * ch;
    for (let y = 0; y < outH; y++) {
      const dxRow = dxBatch + nearestSource(y, inH, outH, alignCorners, halfPixelCenters) * inW * ch;
      for (let x = 0; x < outW; x++) {
        const dxOff = dxRow + srcCol[x]! * ch;
        for (let c = 0; c < ch; c++) dx[dxOff + c] += dy[dyOff + c]!;
        dyOff += ch;
      }
    }
  }
}
