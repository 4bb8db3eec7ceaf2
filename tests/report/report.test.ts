import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AugmentationReport } from '../../libs/augment/index.js';
import type { SampleResult } from '../../libs/attack/index.js';
import {
  asrChart,
  errorChart,
  escapeHtml,
  inlineSvg,
  lossChart,
  pickSamples,
  renderImageGrid,
  renderReport,
  reportInputFromAugmentation,
  traceChart,
  viridis,
  writeReport,
  type ReportInput,
} from '../../libs/report/index.js';
import { fashionInput, history, rng, traces } from './fixture.js';

// Compile-time: what runAugmentation returns fits the report's input.
const _methodsFit = (r: AugmentationReport): ReportInput['methods'] => r.methods;
void _methodsFit;

let input: ReportInput;
let html: string;

beforeAll(async () => {
  input = await fashionInput(4);
  html = await renderReport(input);
});

const tableRows = (page: string) => [...page.matchAll(/<tr data-method="([^"]*)"[^>]*>(.*?)<\/tr>/g)].map((m) => ({ method: m[1]!, row: m[0], cells: m[2]! }));

describe('report html', () => {
  it('has one table row per method, original first, with the formatted numbers', () => {
    const rows = tableRows(html);
    expect(rows.map((r) => r.method)).toEqual(['original', 'mine', 'l2', 'ga-0.1', 'repeat', 'none']);
    const row = (m: string) => rows.find((r) => r.method === m)!.cells;
    expect(row('original')).toContain('0.012300');
    expect(row('original')).toContain('81.25 %');
    expect(row('mine')).toContain('0.011000');
    expect(row('mine')).toContain('+10.57 %');
    expect(row('mine')).toContain('93.8 %');
    expect(row('mine')).toContain('82.03 %');
    expect(row('mine')).toContain('0.421');
    expect(row('mine')).toContain('1.050 [0.610, 2.030], 15');
    expect(row('l2')).toContain('66.7 %');
    expect(row('ga-0.1')).toContain('-6.50 %');
    expect(row('ga-0.1')).toContain('1.20e-5');
    expect(row('repeat')).toContain('+3.25 %');
    expect(row('none')).toContain('0.012400');
    // Only the lowest error is highlighted.
    expect(rows.filter((r) => r.row.includes('class="best"')).map((r) => r.method)).toEqual(['mine']);
    for (const col of ['test recon error', 'improvement', 'ASR', 'accuracy', 's / sample']) expect(html).toContain(`<th scope="col">${col}`);
  });

  it('shows the header facts, the config as JSON, the charts and the grids', () => {
    for (const fact of ['fashion-mnist', 'conv-ae', 'wasm', '>7<', '>1000<', '>500<']) expect(html).toContain(fact);
    expect(html).toContain('&quot;mineSteps&quot;: 20');
    expect((html.match(/<svg/g) ?? []).length).toBe(5); // error, ASR, loss, 2 trace charts
    expect((html.match(/<img src="data:image\/png;base64,/g) ?? []).length).toBe(2);
  });

  it('refers to nothing outside the file and runs no script', () => {
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/\s(src|href)="(?!data:|#)/);
    expect(html).not.toMatch(/<script|<link rel="stylesheet"|@import|url\((?!#)/i);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes every piece of text from the input', async () => {
    const evil = '<script>alert(1)</script>';
    const attr = '"><img src=x onerror=alert(2)>';
    const bad: ReportInput = {
      ...input,
      title: evil,
      dataset: evil,
      model: attr,
      backend: '&<>',
      config: { note: evil, [attr]: 1 },
      methods: { ...input.methods, [evil]: { test_recon_error: 0.001, improvement: 0.9, asr: 0.5, seconds_per_sample: 1 } },
      history: { ...input.history, [attr]: history(3, 0.05, 9) },
      traces: { [evil]: traces([1, 2], 10, 1) },
      images: { ...input.images!, perMethod: { [attr]: input.images!.perMethod.mine! } },
    };
    const page = await renderReport(bad);
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/<img src=x/i);
    expect(page).not.toMatch(/"><img/);
    expect(page).toContain('<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>');
    expect(page).toContain('<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th>');
    expect(page).toContain('&amp;&lt;&gt;');
    expect(tableRows(page).map((r) => r.method)).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('renders without images, traces, history, ASR or accuracy', async () => {
    const page = await renderReport({
      dataset: 'mice-protein',
      model: 'dense-ae',
      backend: 'cpu',
      seed: 0,
      train_samples: 10,
      test_samples: 5,
      config: {},
      methods: { original: { test_recon_error: 0.5 }, repeat: { test_recon_error: 0.4, improvement: 0.2, seconds_per_sample: 0 } },
      history: {},
    });
    expect(tableRows(page).map((r) => r.method)).toEqual(['original', 'repeat']);
    expect(page).toContain('No samples included');
    expect(page).toContain('No training history');
    expect(page).toContain('No attack traces');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<th scope="col">ASR');
    expect(page).not.toContain('<th scope="col">accuracy');
    expect((page.match(/<svg/g) ?? []).length).toBe(1); // the error chart
    expect(page).toContain('</html>');
  });

  it('reports a grid it cannot draw in place and renders the rest', async () => {
    const page = await renderReport({
      ...input,
      images: { ...input.images!, perMethod: { ...input.images!.perMethod, broken: { x: new Float32Array(3) } } },
    });
    expect(page).toMatch(/<h3>broken<\/h3><p class="error">Samples not drawn: generated samples have 3 values/);
    expect((page.match(/<img src="data:image\/png;base64,/g) ?? []).length).toBe(2);
  });

  it('escapes text', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('writeReport', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes dir/report.html and leaves no temporary file', async () => {
    const out = join(dir, 'nested');
    const path = await writeReport(out, input);
    expect(path).toBe(join(out, 'report.html'));
    expect(await readFile(path, 'utf8')).toBe(html);
    expect(await readdir(out)).toEqual(['report.html']);
    // Overwrites in place.
    await writeReport(out, { ...input, title: 'second' });
    expect(await readFile(path, 'utf8')).toContain('<title>second</title>');
    expect(await readdir(out)).toEqual(['report.html']);
  });
});

describe('image grids', () => {
  const pixel = (png: PNG, x: number, y: number) => {
    const o = (y * png.width + x) * 4;
    return [png.data[o]!, png.data[o + 1]!, png.data[o + 2]!];
  };

  it('draws grayscale rows original | generated | |δ| at 3×, with |δ| = 0 where nothing changed', () => {
    const d = 28 * 28;
    const r = rng(1);
    const originals = Float32Array.from({ length: 3 * d }, () => r());
    const generated = originals.slice();
    // Row 1 changes at one pixel (y = 5, x = 9) by 0.25.
    generated[d + 5 * 28 + 9] = originals[d + 5 * 28 + 9]! > 0.5 ? originals[d + 5 * 28 + 9]! - 0.25 : originals[d + 5 * 28 + 9]! + 0.25;
    const grid = renderImageGrid([28, 28, 1], originals, generated, { success: [false, true, false] });
    const png = PNG.sync.read(grid.png);
    // pad 2 + marker 4 + gap 2 + 3 cells of 84 + 2 gaps of 2 + pad 2; pad 2 + 3 rows of 84 + 2 gaps + pad 2
    expect([png.width, png.height]).toEqual([266, 260]);
    expect([grid.width, grid.height, grid.scale, grid.rows]).toEqual([266, 260, 3, 3]);
    expect(grid.deltaMax).toBeCloseTo(0.25, 6);
    expect(grid.dataUri.startsWith('data:image/png;base64,')).toBe(true);
    expect(Buffer.from(grid.dataUri.split(',')[1]!, 'base64').equals(grid.png)).toBe(true);

    const cellX = (k: number) => 8 + k * 86;
    const rowY = (row: number) => 2 + row * 86;
    const zero = viridis(0).join();
    const wrong: string[] = [];
    const want = (x: number, y: number, rgb: string, what: string) => {
      if (pixel(png, x, y).join() !== rgb) wrong.push(`${what} at (${x}, ${y}): ${pixel(png, x, y).join()} ≠ ${rgb}`);
    };
    for (let row = 0; row < 3; row++) {
      for (let py = 0; py < 28; py++) {
        for (let px = 0; px < 28; px++) {
          const changed = row === 1 && py === 5 && px === 9;
          // |δ| cell: every pixel of the 3×3 block.
          for (let dy = 0; dy < 3; dy++) {
            for (let dx = 0; dx < 3; dx++) want(cellX(2) + px * 3 + dx, rowY(row) + py * 3 + dy, changed ? viridis(1).join() : zero, '|δ|');
          }
          // Original and generated cells: the gray level of the value.
          const g = Math.round(originals[row * d + py * 28 + px]! * 255);
          want(cellX(0) + px * 3 + 1, rowY(row) + py * 3 + 1, [g, g, g].join(), 'original');
          const g2 = Math.round(generated[row * d + py * 28 + px]! * 255);
          want(cellX(1) + px * 3 + 1, rowY(row) + py * 3 + 1, [g2, g2, g2].join(), 'generated');
        }
      }
    }
    expect(wrong).toEqual([]);
    // Success markers: grey, green, grey.
    expect(pixel(png, 3, rowY(0) + 10)).toEqual([190, 190, 190]);
    expect(pixel(png, 3, rowY(1) + 10)).toEqual([44, 160, 44]);
    // Background between cells.
    expect(pixel(png, cellX(1) - 1, rowY(0) + 10)).toEqual([255, 255, 255]);
  });

  it('draws RGB samples in colour, without markers, at a given scale', () => {
    const shape = [4, 5, 3];
    const d = 60;
    const originals = new Float32Array(2 * d);
    for (let p = 0; p < 20; p++) originals.set([1, 0.5, 0], p * 3); // row 0: orange
    for (let p = 0; p < 20; p++) originals.set([0, 0, 1], d + p * 3); // row 1: blue
    const generated = originals.slice();
    generated[d + 2] = 0.5; // row 1, pixel (0, 0), blue channel −0.5
    const grid = renderImageGrid(shape, originals, generated, { scale: 2 });
    const png = PNG.sync.read(grid.png);
    expect([png.width, png.height]).toEqual([2 + 3 * 10 + 4 + 2, 2 + 2 * 8 + 2 + 2]);
    expect(pixel(png, 2, 2)).toEqual([255, 128, 0]);
    expect(pixel(png, 2, 12)).toEqual([0, 0, 255]);
    expect(pixel(png, 14, 12)).toEqual([0, 0, 128]);
    expect(pixel(png, 26, 12)).toEqual([...viridis(1)]);
    expect(pixel(png, 28, 12)).toEqual([...viridis(0)]);
    expect(pixel(png, 26, 2)).toEqual([...viridis(0)]);
  });

  it('draws vectors as strips (77 features: 8 px cells)', () => {
    const originals = Float32Array.from({ length: 2 * 77 }, (_, i) => (i % 77) / 76);
    const generated = originals.slice();
    generated[77 + 10] = 0;
    const grid = renderImageGrid([77], originals, generated, { success: [true, false] });
    const png = PNG.sync.read(grid.png);
    expect(grid.kind).toBe('vector');
    // pad + marker + gap + 77 × 8 + pad; pad + 2 blocks of (3 strips of 8 + 2) + 4 + pad
    expect([png.width, png.height]).toEqual([2 + 6 + 616 + 2, 2 + 2 * 26 + 4 + 2]);
    const x0 = 8;
    // Row 0: |δ| strip (third strip, y = 2 + 18) is zero everywhere.
    for (let p = 0; p < 77; p++) expect(pixel(png, x0 + p * 8 + 3, 2 + 18 + 3)).toEqual([...viridis(0)]);
    // Row 1 (y0 = 2 + 26 + 4): feature 10 changed.
    expect(pixel(png, x0 + 10 * 8 + 3, 32 + 18 + 3)).toEqual([...viridis(1)]);
    expect(pixel(png, x0 + 11 * 8 + 3, 32 + 18 + 3)).toEqual([...viridis(0)]);
    const g = Math.round((11 / 76) * 255);
    expect(pixel(png, x0 + 11 * 8 + 3, 2 + 3)).toEqual([g, g, g]);
  });

  it('caps the rows and rejects mismatched data', () => {
    const x = new Float32Array(20 * 16);
    expect(renderImageGrid([4, 4], x, x, { maxRows: 5 }).rows).toBe(5);
    expect(() => renderImageGrid([4, 4], x, x.subarray(16))).toThrow(/generated/);
    expect(() => renderImageGrid([5, 5], x, x)).toThrow(/multiple/);
  });

  it('viridis runs from dark purple to yellow', () => {
    expect(viridis(0)).toEqual([68, 1, 84]);
    expect(viridis(1)).toEqual([253, 231, 37]);
    expect(viridis(Number.NaN)).toEqual([68, 1, 84]);
    expect(viridis(2)).toEqual([253, 231, 37]);
  });
});

describe('charts', () => {
  it('render inline SVG without namespace URLs and with ids unique per chart', async () => {
    const a = await asrChart(input.methods);
    const e = await errorChart(input.methods);
    const l = await lossChart(input.history);
    const t = await traceChart('mine', input.traces!.mine!);
    for (const svg of [a, e, l, t]) {
      expect(svg).toMatch(/^<svg[\s>]/);
      expect(svg).not.toContain('xmlns');
      expect(svg).toContain('</svg>');
    }
    const ids = (svg: string) => [...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    const all = [a, e, l, t].flatMap((s) => ids(s!));
    expect(new Set(all).size).toBe(all.length);
    expect(t).toContain('MI (nats)');
    expect(t).toContain('#1');
  });

  it('return null when there is nothing to draw', async () => {
    expect(await asrChart({ original: { test_recon_error: 1 } })).toBeNull();
    expect(await lossChart({ original: [] })).toBeNull();
    expect(await traceChart('mine', [{ sampleId: 0, trace: { similarity: [Number.NaN], f: [], c: [] } }])).toBeNull();
  });

  it('inlineSvg prefixes ids and their references', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="1"><clipPath id="clip1"></clipPath><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
    expect(inlineSvg(svg, 'p')).toBe('<svg width="1"><clipPath id="p-clip1"></clipPath><g clip-path="url(#p-clip1)"><use href="#p-clip1"/></g></svg>');
  });
});

describe('reportInputFromAugmentation', () => {
  it('shows the samples the attacks succeeded on first, with their traces', () => {
    const d = 4;
    const n = 6;
    const trainX = Float32Array.from({ length: n * d }, (_, i) => i / (n * d));
    const result = (sampleId: number, success: boolean): SampleResult => ({
      sampleId,
      xAdv: new Float32Array(d).fill(success ? 1 : 0),
      success,
      similarity: 1,
      f: success ? -1 : 1,
      finalC: 1,
      iterations: 2,
      bestIteration: 1,
      trace: { similarity: [1, 2], f: [1, -1], c: [1, 0.5] },
    });
    const mineOk = [false, true, false, true, true, false];
    const l2Ok = [false, false, false, true, false, true];
    const mineX = trainX.slice();
    mineOk.forEach((ok, i) => ok && mineX.fill(1, i * d, (i + 1) * d));
    const report = {
      dataset: 'toy',
      model: 'dense-ae',
      backend: 'cpu',
      seed: 1,
      train_samples: n,
      test_samples: 2,
      methods: { original: { test_recon_error: 0.2 }, mine: { test_recon_error: 0.1, improvement: 0.5, asr: 0.5, seconds_per_sample: 1 } },
      generated: {
        mine: { x: mineX, results: mineOk.map((ok, i) => result(i, ok)) },
        l2: { x: trainX.slice(), results: l2Ok.map((ok, i) => result(i, ok)) },
        'ga-0.1': { x: trainX.slice() },
      },
      history: { original: history(2, 0.1, 1) },
    } as unknown as AugmentationReport;
    const ri = reportInputFromAugmentation(report, { trainX, inputShape: [2, 2], config: { a: 1 }, samples: 3, traceSamples: 2 });
    expect(ri.images!.ids).toEqual([3, 1, 4]);
    expect(Array.from(ri.images!.originals)).toEqual(Array.from(trainX.subarray(12, 16)).concat(Array.from(trainX.subarray(4, 8)), Array.from(trainX.subarray(16, 20))));
    expect(Array.from(ri.images!.perMethod.mine!.x)).toEqual(new Array(12).fill(1));
    expect(ri.images!.perMethod.mine!.success).toEqual([true, true, true]);
    expect(ri.images!.perMethod.l2!.success).toEqual([true, false, false]);
    expect(ri.images!.perMethod['ga-0.1']!.success).toBeUndefined();
    expect(ri.traces!.mine!.map((t) => t.sampleId)).toEqual([1, 3]);
    expect(ri.methods).toBe(report.methods);
    expect(pickSamples(4, [undefined], 2)).toEqual([0, 1]);
  });
});
