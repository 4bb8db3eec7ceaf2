/**
 * Tabular datasets from CSV: numeric feature columns, one label column,
 * missing values filled with the training column mean, min-max scaling to
 * [0, 1] fitted on the training split only, and a seeded train/test split.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../runtime/package-info.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { Kinded } from '../errors/index.js';

export class CsvFormatError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'CsvFormatError';
  }
}

/** RFC 4180 fields: commas, double-quoted fields with "" escapes, \n or \r\n rows. */
export function parseCsv(text: string, source = 'csv'): { header: string[]; rows: string[][] } {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      endRow();
    } else if (ch !== '\r') {
      field += ch;
    }
    i++;
  }
  if (quoted) throw new CsvFormatError(source, 'unterminated quoted field at end of file');
  if (field !== '' || row.length > 0) endRow();
  if (rows.length === 0) throw new CsvFormatError(source, 'empty file');
  const [header, ...data] = rows;
  data.forEach((r, k) => {
    if (r.length !== header!.length) {
      throw new CsvFormatError(source, `row ${k + 2} has ${r.length} fields, the header has ${header!.length}`);
    }
  });
  return { header: header!.map((h) => h.trim()), rows: data };
}

const MISSING = new Set(['', 'NA', 'NaN', 'nan', 'null', '?']);

export interface CsvDatasetOptions {
  /** The label column (required). */
  labelColumn: string;
  /** Feature columns; default: every all-numeric column except the label and `exclude`. */
  featureColumns?: string[];
  exclude?: string[];
  /** Share of rows held out for testing (default 0.2). */
  testFraction?: number;
  seed?: number;
}

export interface TabularSplit {
  /** n × d features in [0, 1], row-major. */
  x: Float32Array;
  /** Index into `classes` per row. */
  labels: Int32Array;
  n: number;
  /** Each sample's data row in the file (0-based, header excluded). */
  rows: Int32Array;
}

export interface TabularDataset {
  featureNames: string[];
  classes: string[];
  d: number;
  train: TabularSplit;
  test: TabularSplit;
  /** Fitted on the training rows: column means (for missing values), min and max. */
  scaling: { fill: Float64Array; min: Float64Array; max: Float64Array };
  /** Rows (0-based, data rows) that went to the test split. */
  testRows: number[];
}

export function tabularFromCsv(text: string, opts: CsvDatasetOptions, source = 'csv'): TabularDataset {
  const { header, rows } = parseCsv(text, source);
  const labelIndex = header.indexOf(opts.labelColumn);
  if (labelIndex < 0) throw new CsvFormatError(source, `no label column "${opts.labelColumn}" (columns: ${header.join(', ')})`);
  const isNumeric = (c: number) => rows.every((r) => MISSING.has(r[c]!.trim()) || Number.isFinite(Number(r[c])));
  let featureIdx: number[];
  if (opts.featureColumns) {
    featureIdx = opts.featureColumns.map((name) => {
      const c = header.indexOf(name);
      if (c < 0) throw new CsvFormatError(source, `no feature column "${name}"`);
      if (!isNumeric(c)) throw new CsvFormatError(source, `feature column "${name}" is not numeric`);
      return c;
    });
  } else {
    const excluded = new Set([opts.labelColumn, ...(opts.exclude ?? [])]);
    featureIdx = header.map((_, c) => c).filter((c) => !excluded.has(header[c]!) && isNumeric(c));
  }
  if (featureIdx.length === 0) throw new CsvFormatError(source, 'no numeric feature columns');
  const n = rows.length;
  const d = featureIdx.length;
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`testFraction must be in (0, 1); got ${testFraction}`);
  const nTest = Math.round(n * testFraction);
  if (nTest < 1 || n - nTest < 1) throw new CsvFormatError(source, `${n} rows cannot be split ${1 - testFraction}/${testFraction}`);
  const order = new Rng(opts.seed ?? 0, STREAM.shuffle).permutation(n);
  const testRows = Array.from(order.subarray(0, nTest)).sort((a, b) => a - b);
  const isTest = new Uint8Array(n);
  for (const r of testRows) isTest[r] = 1;

  const raw = new Float64Array(n * d).fill(Number.NaN);
  rows.forEach((r, i) => featureIdx.forEach((c, j) => {
    const v = r[c]!.trim();
    if (!MISSING.has(v)) raw[i * d + j] = Number(v);
  }));
  // Fit on training rows only: means for missing values, then min and max.
  const fill = new Float64Array(d);
  const min = new Float64Array(d).fill(Infinity);
  const max = new Float64Array(d).fill(-Infinity);
  for (let j = 0; j < d; j++) {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = raw[i * d + j]!;
      if (!isTest[i] && !Number.isNaN(v)) {
        sum += v;
        count++;
      }
    }
    fill[j] = count > 0 ? sum / count : 0;
    for (let i = 0; i < n; i++) {
      if (isTest[i]) continue;
      const v = Number.isNaN(raw[i * d + j]!) ? fill[j]! : raw[i * d + j]!;
      min[j] = Math.min(min[j]!, v);
      max[j] = Math.max(max[j]!, v);
    }
  }
  const classes = [...new Set(rows.map((r) => r[labelIndex]!.trim()))].sort();
  const split = (test: boolean): TabularSplit => {
    const idx = Array.from({ length: n }, (_, i) => i).filter((i) => Boolean(isTest[i]) === test);
    const x = new Float32Array(idx.length * d);
    const labels = new Int32Array(idx.length);
    idx.forEach((i, k) => {
      labels[k] = classes.indexOf(rows[i]![labelIndex]!.trim());
      for (let j = 0; j < d; j++) {
        const v = Number.isNaN(raw[i * d + j]!) ? fill[j]! : raw[i * d + j]!;
        const range = max[j]! - min[j]!;
        // Test rows can fall outside the training range: clip into [0, 1].
        x[k * d + j] = range > 0 ? Math.min(1, Math.max(0, (v - min[j]!) / range)) : 0;
      }
    });
    return { x, labels, n: idx.length, rows: Int32Array.from(idx) };
  };
  return { featureNames: featureIdx.map((c) => header[c]!), classes, d, train: split(false), test: split(true), scaling: { fill, min, max }, testRows };
}

export async function loadCsvDataset(path: string, opts: CsvDatasetOptions): Promise<TabularDataset> {
  return tabularFromCsv(await readFile(path, 'utf8'), opts, path);
}

/** The bundled Mice Protein dataset (CC BY 4.0, see bundled/mice-protein/README.md), 80/20 by seed. */
export async function loadMiceProtein(seed = 0): Promise<TabularDataset> {
  const path = bundledFile('mice-protein/Data_Cortex_Nuclear.csv');
  return tabularFromCsv(await readFile(path, 'utf8'), { labelColumn: 'class', exclude: ['MouseID', 'Genotype', 'Treatment', 'Behavior'], seed }, 'mice-protein');
}

/**
 * A file under libs/data/bundled/, found from the package root, so that the
 * same code works from the sources (tsx) and from a compiled dist/ (tsc does
 * not copy data files).
 */
export function bundledFile(relative: string): string {
  return join(packageRoot(), 'libs', 'data', 'bundled', relative);
}
