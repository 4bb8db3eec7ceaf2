/**
 * PNG grids of original | generated | |δ| for the report, as data: URIs.
 *
 * Images ([H, W, C] with C = 1 grayscale or C = 3 RGB; [H, W] is C = 1): one
 * row per sample, three cells side by side, upscaled by nearest neighbour.
 * Vectors ([d], e.g. the 77 Mice Protein features): one block per sample of
 * three stacked strips (original, generated, |δ|), one cell per feature,
 * values in grayscale. |δ| (per pixel: the largest over the channels) uses a
 * viridis-like ramp scaled per grid: 0 → dark purple, the grid's largest |δ| →
 * yellow. With `success` given, a marker at the left of each row is green for
 * a successful attack and grey for a failure (generated = original).
 */
import { PNG } from 'pngjs';

export type Rgb = readonly [number, number, number];

/** Outer padding, gap between cells, width of the success marker (pixels). */
export const GRID_PAD = 2;
export const GRID_GAP = 2;
export const GRID_MARKER = 4;
/** Vector strips: height of one strip and widest feature cell. */
export const STRIP_HEIGHT = 8;
export const STRIP_MAX_CELL = 8;
/** Vector strips: target width of one strip (cells get narrower for many features). */
export const STRIP_TARGET_WIDTH = 640;

export const BACKGROUND: Rgb = [255, 255, 255];
export const SUCCESS: Rgb = [44, 160, 44];
export const FAILURE: Rgb = [190, 190, 190];

/** A width × height PNG filled with BACKGROUND, and a rectangle fill on it. */
export function pngCanvas(width: number, height: number): { png: PNG; fill: (x0: number, y0: number, w: number, h: number, rgb: Rgb) => void } {
  const png = new PNG({ width, height });
  const data = png.data;
  const fill = (x0: number, y0: number, w: number, h: number, [r, g, b]: Rgb) => {
    for (let y = y0; y < y0 + h; y++) {
      for (let x = x0; x < x0 + w; x++) {
        const o = (y * width + x) * 4;
        data[o] = r;
        data[o + 1] = g;
        data[o + 2] = b;
        data[o + 3] = 255;
      }
    }
  };
  fill(0, 0, width, height, BACKGROUND);
  return { png, fill };
}

// Viridis sampled at 0, 1/8, …, 1; linear interpolation in between.
const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 73, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [253, 231, 37],
];

/** The colour of t ∈ [0, 1] (clamped; NaN → 0) on the viridis-like ramp. */
export function viridis(t: number): Rgb {
  const u = Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

/** CSS stops of the ramp, for a colour bar next to a grid. */
export function viridisCssGradient(): string {
  return `linear-gradient(to right, ${VIRIDIS.map(([r, g, b], i) => `rgb(${r},${g},${b}) ${((i / (VIRIDIS.length - 1)) * 100).toFixed(1)}%`).join(', ')})`;
}

export interface ImageGridOptions {
  /** Per-row attack success (draws the marker column). */
  success?: readonly boolean[];
  /** Nearest-neighbour upscaling of images (default 3 up to 32 px, 2 up to 64 px, else 1). */
  scale?: number;
  /** Most rows drawn (default: all). */
  maxRows?: number;
}

export interface ImageGrid {
  kind: 'image' | 'vector';
  /** data:image/png;base64,… */
  dataUri: string;
  png: Buffer;
  width: number;
  height: number;
  rows: number;
  /** Upscaling (images) or feature cell width (vectors), in pixels. */
  scale: number;
  /** The |δ| that maps to the top of the ramp (0 when nothing changed). */
  deltaMax: number;
}

export interface SampleLayout {
  kind: 'image' | 'vector';
  h: number;
  w: number;
  c: number;
  d: number;
}

/** How a per-sample shape is drawn: [H, W, C] / [H, W] as images, [d] as vectors. */
export function sampleLayout(inputShape: readonly number[]): SampleLayout {
  if (inputShape.length === 0 || inputShape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`input shape [${inputShape.join(', ')}] must be positive integers`);
  }
  const d = inputShape.reduce((a, b) => a * b, 1);
  if (inputShape.length === 1) return { kind: 'vector', h: 1, w: d, c: 1, d };
  if (inputShape.length === 2) return { kind: 'image', h: inputShape[0]!, w: inputShape[1]!, c: 1, d };
  if (inputShape.length === 3) return { kind: 'image', h: inputShape[0]!, w: inputShape[1]!, c: inputShape[2]!, d };
  // Higher ranks: draw the flattened vector.
  return { kind: 'vector', h: 1, w: d, c: 1, d };
}

export function defaultScale(h: number, w: number): number {
  const m = Math.max(h, w);
  return m <= 32 ? 3 : m <= 64 ? 2 : 1;
}

/** Feature cell width of a vector strip. */
export function stripCellWidth(d: number): number {
  return Math.max(1, Math.min(STRIP_MAX_CELL, Math.floor(STRIP_TARGET_WIDTH / d)));
}

/** Width and height in pixels of a grid of `rows` samples. */
export function gridSize(inputShape: readonly number[], rows: number, opts: { scale?: number; markers?: boolean } = {}): { width: number; height: number; scale: number } {
  const l = sampleLayout(inputShape);
  const marker = opts.markers ? GRID_MARKER + GRID_GAP : 0;
  if (l.kind === 'image') {
    const s = opts.scale ?? defaultScale(l.h, l.w);
    return { width: 2 * GRID_PAD + marker + 3 * l.w * s + 2 * GRID_GAP, height: 2 * GRID_PAD + rows * l.h * s + Math.max(0, rows - 1) * GRID_GAP, scale: s };
  }
  const cw = stripCellWidth(l.d);
  const block = 3 * STRIP_HEIGHT + 2;
  return { width: 2 * GRID_PAD + marker + l.d * cw, height: 2 * GRID_PAD + rows * block + Math.max(0, rows - 1) * 2 * GRID_GAP, scale: cw };
}

const byte = (v: number) => (Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0);

/**
 * Draws the grid of `originals` (n × d) against `generated` (n × d).
 * Throws when the lengths do not match the shape.
 */
export function renderImageGrid(inputShape: readonly number[], originals: Float32Array, generated: Float32Array, opts: ImageGridOptions = {}): ImageGrid {
  const l = sampleLayout(inputShape);
  if (originals.length % l.d !== 0 || originals.length === 0) {
    throw new Error(`originals: ${originals.length} values are not a positive multiple of ${l.d} ([${inputShape.join(', ')}])`);
  }
  if (generated.length !== originals.length) {
    throw new Error(`generated samples have ${generated.length} values, the originals ${originals.length}`);
  }
  const rows = Math.min(originals.length / l.d, opts.maxRows ?? Infinity);
  if (rows < 1) throw new Error('no rows to draw');
  const success = opts.success;
  if (success && success.length < rows) throw new Error(`success has ${success.length} entries for ${rows} rows`);
  const markers = success !== undefined;
  const { width, height, scale } = gridSize(inputShape, rows, { scale: opts.scale, markers });
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`scale must be a positive integer; got ${scale}`);

  // |δ| per pixel (the largest over the channels) and its largest value in the grid.
  const pixels = l.h * l.w;
  const delta = new Float32Array(rows * pixels);
  let deltaMax = 0;
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < pixels; p++) {
      let m = 0;
      for (let ch = 0; ch < l.c; ch++) {
        const i = r * l.d + p * l.c + ch;
        const v = Math.abs(generated[i]! - originals[i]!);
        if (v > m) m = v;
      }
      delta[r * pixels + p] = m;
      if (m > deltaMax) deltaMax = m;
    }
  }

  const { png, fill } = pngCanvas(width, height);

  // The colour of pixel p of row r in a sample (values) or of its |δ|.
  const valueColour = (x: Float32Array, r: number, p: number): Rgb => {
    const base = r * l.d + p * l.c;
    if (l.c === 3) return [byte(x[base]!), byte(x[base + 1]!), byte(x[base + 2]!)];
    let v = 0;
    for (let ch = 0; ch < l.c; ch++) v += x[base + ch]!;
    const g = byte(v / l.c);
    return [g, g, g];
  };
  const deltaColour = (r: number, p: number): Rgb => viridis(deltaMax > 0 ? delta[r * pixels + p]! / deltaMax : 0);
  const x0 = GRID_PAD + (markers ? GRID_MARKER + GRID_GAP : 0);

  if (l.kind === 'image') {
    const cw = l.w * scale;
    const ch = l.h * scale;
    for (let r = 0; r < rows; r++) {
      const y0 = GRID_PAD + r * (ch + GRID_GAP);
      if (success) fill(GRID_PAD, y0, GRID_MARKER, ch, success[r] ? SUCCESS : FAILURE);
      const cells: Array<(p: number) => Rgb> = [(p) => valueColour(originals, r, p), (p) => valueColour(generated, r, p), (p) => deltaColour(r, p)];
      cells.forEach((colour, k) => {
        const cx = x0 + k * (cw + GRID_GAP);
        for (let py = 0; py < l.h; py++) {
          for (let px = 0; px < l.w; px++) fill(cx + px * scale, y0 + py * scale, scale, scale, colour(py * l.w + px));
        }
      });
    }
  } else {
    const block = 3 * STRIP_HEIGHT + 2;
    for (let r = 0; r < rows; r++) {
      const y0 = GRID_PAD + r * (block + 2 * GRID_GAP);
      if (success) fill(GRID_PAD, y0, GRID_MARKER, block, success[r] ? SUCCESS : FAILURE);
      const strips: Array<(p: number) => Rgb> = [(p) => valueColour(originals, r, p), (p) => valueColour(generated, r, p), (p) => deltaColour(r, p)];
      strips.forEach((colour, k) => {
        const sy = y0 + k * (STRIP_HEIGHT + 1);
        for (let p = 0; p < l.d; p++) fill(x0 + p * scale, sy, scale, STRIP_HEIGHT, colour(p));
      });
    }
  }

  const buf = PNG.sync.write(png, { colorType: 2 });
  return { kind: l.kind, dataUri: `data:image/png;base64,${buf.toString('base64')}`, png: buf, width, height, rows, scale, deltaMax };
}
