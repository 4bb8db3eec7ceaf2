/**
 * The supervised study's report: the robustness chart (one line per
 * classifier, the ASR axis 0–100 %), the multi-column Figure 3 grid (known
 * size, pixels where they belong), and the whole page in headless Chromium:
 * no errors, no requests, the grid decoded, the charts laid out.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRID_GAP, GRID_MARKER, GRID_PAD, renderColumnGrid, robustnessChart, writeSupervisedReport } from '../../libs/report/index.js';
import { supervisedConfig, SUPERVISED_RESULT_KIND, type GridImages, type SupervisedMetrics } from '../../libs/supervised/index.js';
import { launchChromium, openReport } from './browser.js';
import { rng } from './fixture.js';

const SHOTS = process.env.UAE_REPORT_SCREENSHOTS ?? tmpdir();
const EPS = [0, 0.05, 0.1, 0.2, 0.3];

function metrics(): SupervisedMetrics {
  const row = (asr: number, mean: number) => ({ asr, succeeded: Math.round(asr * 20), attacked: 20, mi: { n: Math.round(asr * 20), mean, std: 2, ci95: [mean - 1, mean + 1] as [number, number] }, seconds: 12.5 });
  const series = (base: number) => ({ asr: EPS.map((e) => Math.min(1, base * e * 10)), succeeded: EPS.map((e) => Math.round(Math.min(1, base * e * 10) * 20)) });
  return {
    kind: SUPERVISED_RESULT_KIND,
    config: supervisedConfig({ dataset: 'fashion-mnist', samples: 20 }),
    backend: { name: 'wasm', provider: 'wasm-simd', gpu: false },
    dataset: { name: 'fashion-mnist', input_shape: [28, 28, 1], classes: 10, train_samples: 1000, test_samples: 200 },
    classifiers: {
      std: { accuracy: 0.85, train_samples: 1000, train_steps: 200, train_seconds: 30 },
      'std-uae': { accuracy: 0.86, train_samples: 2000, train_steps: 400, train_seconds: 61 },
      adv: { accuracy: 0.78, train_samples: 1000, train_steps: 200, train_seconds: 120 },
      'adv-uae': { accuracy: 0.79, train_samples: 2000, resumed: true },
    },
    uae: { samples: 1000, succeeded: 990, asr: 0.99, ae_epochs: 20, sampler: 'conv', iterations: 40, mine_steps: 20, seconds: 300 },
    table3: {
      sample_ids: Array.from({ length: 20 }, (_, i) => i),
      correct_available: 170,
      criterion: 'cw-untargeted',
      kappa: 0,
      alpha: 0.01,
      iterations: 1000,
      search_steps: 10,
      mine_steps: 1,
      sampler: 'random',
      mine_draws: 500,
      minmax: row(1, 51.3),
      penalty: row(0.95, 28.3),
    },
    grid: { sample_ids: [0, 1, 2], epsilons: [0.1, 0.2, 0.3], pgd_steps: 100, minmax_success: [true, true, false], pgd_success: [[true, false, true], [true, true, true], [true, true, true]] },
    curves: { attack: 'pgd-linf-random-start', steps: 100, step_size: 'default (2.5·ε/steps)', epsilons: EPS, samples: 20, series: { std: series(1), 'std-uae': series(0.8), adv: series(0.4), 'adv-uae': series(0.3) } },
    timings: { 'train Std': 30, 'Table 3 minmax': 12.5 },
  };
}

function grid(): GridImages {
  const r = rng(3);
  const d = 28 * 28;
  const clean = Float32Array.from({ length: 3 * d }, () => r());
  const shift = (eps: number) => clean.map((v) => Math.min(1, Math.max(0, v + (r() < 0.5 ? -eps : eps))));
  return {
    inputShape: [28, 28, 1],
    sampleIds: [0, 1, 2],
    columns: [
      { label: 'clean', x: clean },
      { label: 'MinMax (MINE)', x: shift(0.05), success: [true, true, false] },
      { label: 'PGD ε = 0.1', x: shift(0.1), success: [true, false, true] },
      { label: 'PGD ε = 0.3', x: shift(0.3), success: [true, true, true] },
    ],
  };
}

describe('robustness chart', () => {
  it('draws one line per classifier over ε, ASR as a percentage from 0 to 100 %', async () => {
    const svg = (await robustnessChart(EPS, [
      { name: 'Std', asr: [0, 0.2, 0.5, 0.9, 1] },
      { name: 'Adv', asr: [0.1, 0.1, 0.2, 0.4, NaN] },
    ]))!;
    expect(svg).toMatch(/^<svg/);
    // One line mark per series; legend and axes name them.
    expect(svg.match(/aria-roledescription="line mark"/g)?.length).toBe(2);
    expect(svg).toContain('>Std<');
    expect(svg).toContain('>Adv<');
    expect(svg).toContain('>100%<');
    expect(svg).toContain('ε (L∞ radius)');
  });

  it('is null with nothing to draw', async () => {
    expect(await robustnessChart(EPS, [{ name: 'Std', asr: [NaN] }])).toBeNull();
  });
});

describe('column grid', () => {
  it('lays the columns side by side with success strips, pixels in place', () => {
    const x = new Float32Array(2 * 4 * 4).fill(0);
    const y = new Float32Array(2 * 4 * 4).fill(1);
    const g = renderColumnGrid([4, 4, 1], [{ x }, { x: y, success: [true, false] }], { scale: 2 });
    expect(g.cellWidth).toBe(8);
    expect(g.width).toBe(2 * GRID_PAD + 2 * 8 + GRID_GAP);
    expect(g.height).toBe(2 * GRID_PAD + 2 * (GRID_MARKER + 1 + 8) + GRID_GAP);
    const png = PNG.sync.read(g.png);
    const at = (px: number, py: number) => Array.from(png.data.subarray((py * g.width + px) * 4, (py * g.width + px) * 4 + 3));
    const top = GRID_PAD + GRID_MARKER + 1;
    expect(at(GRID_PAD, top)).toEqual([0, 0, 0]);
    expect(at(GRID_PAD + 8 + GRID_GAP, top)).toEqual([255, 255, 255]);
    // Success strips: green in row 0, grey in row 1 of the second column.
    expect(at(GRID_PAD + 8 + GRID_GAP, GRID_PAD)).toEqual([44, 160, 44]);
    expect(at(GRID_PAD + 8 + GRID_GAP, GRID_PAD + GRID_MARKER + 1 + 8 + GRID_GAP)).toEqual([190, 190, 190]);
  });

  it('refuses columns of different lengths and vectors', () => {
    expect(() => renderColumnGrid([4, 4, 1], [{ x: new Float32Array(16) }, { x: new Float32Array(8) }])).toThrow(/column 1/);
    expect(() => renderColumnGrid([16], [{ x: new Float32Array(16) }])).toThrow(/images/);
  });
});

describe('supervised report.html in headless Chromium', () => {
  let browser: Browser | undefined;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-supervised-report-'));
    browser = await launchChromium();
  }, 25_000);
  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders the tables, the robustness and MI charts and the Figure 3 grid with no errors and no requests', async () => {
    const path = await writeSupervisedReport(dir, { metrics: metrics(), grid: grid(), machine: { cpus: 2 } });
    expect(await readFile(path, 'utf8')).not.toMatch(/<script|<link rel="stylesheet"|@import|url\((?!#)/i);
    const { page, problems, ok } = await openReport(browser, path);
    try {
      expect(ok).toBe(true);
      const facts = (await page.evaluate(`({
        classifiers: [...document.querySelectorAll('#classifiers tbody tr')].map((tr) => tr.getAttribute('data-classifier')),
        curveRows: [...document.querySelectorAll('#robustness tbody tr')].map((tr) => tr.children.length),
        curveSvg: [...document.querySelectorAll('#robustness svg')].map((s) => ({ width: s.getBoundingClientRect().width, lines: s.querySelectorAll('[aria-roledescription="line mark"]').length })),
        table3Svg: document.querySelectorAll('#table3 svg').length,
        images: [...document.images].map((img) => ({ complete: img.complete, natural: img.naturalWidth, width: Number(img.getAttribute('width')) })),
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        scripts: document.scripts.length,
      })`)) as {
        classifiers: string[];
        curveRows: number[];
        curveSvg: Array<{ width: number; lines: number }>;
        table3Svg: number;
        images: Array<{ complete: boolean; natural: number; width: number }>;
        overflow: number;
        scripts: number;
      };
      await page.screenshot({ path: join(SHOTS, 'uae-report-supervised.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(facts.classifiers).toEqual(['std', 'std-uae', 'adv', 'adv-uae']);
      // A name column and one per ε.
      expect(facts.curveRows).toEqual([6, 6, 6, 6]);
      expect(facts.curveSvg).toHaveLength(1);
      expect(facts.curveSvg[0]!.lines).toBe(4);
      expect(facts.curveSvg[0]!.width).toBeGreaterThan(300);
      expect(facts.table3Svg).toBe(1);
      expect(facts.images).toHaveLength(1);
      expect(facts.images[0]).toMatchObject({ complete: true });
      expect(facts.images[0]!.natural).toBe(facts.images[0]!.width);
      expect(facts.overflow).toBeLessThanOrEqual(0);
      expect(facts.scripts).toBe(0);
    } finally {
      await page.close();
    }
  }, 30_000);
});
