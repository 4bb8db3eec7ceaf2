/**
 * A PNG grid of images with any number of columns (the paper's Figure 3:
 * clean | MinMax x′ | PGD x′ at several ε), one row per sample, upscaled by
 * nearest neighbour; a column with per-row success draws a marker strip
 * above each of its cells (green success, grey failure). Images only.
 */
import { PNG } from 'pngjs';
import { defaultScale, FAILURE, GRID_GAP, GRID_MARKER, GRID_PAD, pngCanvas, sampleLayout, SUCCESS, type Rgb } from './image-grid.js';

export interface GridColumn {
  /** n × d, row-major, values in [0, 1]. */
  x: Float32Array;
  success?: readonly boolean[];
}

export interface ColumnGrid {
  dataUri: string;
  png: Buffer;
  width: number;
  height: number;
  rows: number;
  columns: number;
  scale: number;
  /** Width of one column's cell in pixels (for labels above it). */
  cellWidth: number;
}

const byte = (v: number) => (Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0);

export function renderColumnGrid(inputShape: readonly number[], columns: readonly GridColumn[], opts: { scale?: number } = {}): ColumnGrid {
  const l = sampleLayout(inputShape);
  if (l.kind !== 'image') throw new Error(`a column grid draws images; got samples of shape [${inputShape.join(', ')}]`);
  if (columns.length === 0) throw new Error('no columns to draw');
  const n = columns[0]!.x.length / l.d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`column 0: ${columns[0]!.x.length} values are not a positive multiple of ${l.d}`);
  columns.forEach((c, k) => {
    if (c.x.length !== n * l.d) throw new Error(`column ${k}: ${c.x.length} values, column 0 has ${n * l.d}`);
    if (c.success && c.success.length !== n) throw new Error(`column ${k}: ${c.success.length} success flags for ${n} rows`);
  });
  const scale = opts.scale ?? defaultScale(l.h, l.w);
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`scale must be a positive integer; got ${scale}`);
  const cw = l.w * scale;
  const ch = l.h * scale;
  const marker = columns.some((c) => c.success) ? GRID_MARKER + 1 : 0;
  const rowHeight = marker + ch;
  const width = 2 * GRID_PAD + columns.length * cw + (columns.length - 1) * GRID_GAP;
  const height = 2 * GRID_PAD + n * rowHeight + (n - 1) * GRID_GAP;
  const { png, fill } = pngCanvas(width, height);
  for (let r = 0; r < n; r++) {
    const y0 = GRID_PAD + r * (rowHeight + GRID_GAP);
    columns.forEach((c, k) => {
      const x0 = GRID_PAD + k * (cw + GRID_GAP);
      if (c.success) fill(x0, y0, cw, GRID_MARKER, c.success[r] ? SUCCESS : FAILURE);
      for (let py = 0; py < l.h; py++) {
        for (let px = 0; px < l.w; px++) {
          const base = r * l.d + (py * l.w + px) * l.c;
          let colour: Rgb;
          if (l.c === 3) colour = [byte(c.x[base]!), byte(c.x[base + 1]!), byte(c.x[base + 2]!)];
          else {
            let v = 0;
            for (let q = 0; q < l.c; q++) v += c.x[base + q]!;
            const g = byte(v / l.c);
            colour = [g, g, g];
          }
          fill(x0 + px * scale, y0 + marker + py * scale, scale, scale, colour);
        }
      }
    });
  }
  const buf = PNG.sync.write(png, { colorType: 2 });
  return { dataUri: `data:image/png;base64,${buf.toString('base64')}`, png: buf, width, height, rows: n, columns: columns.length, scale, cellWidth: cw };
}
