/**
 * Opens written reports from file:// in headless Chromium: no console errors
 * or warnings, no page errors, no requests besides the file itself, images
 * decoded, charts laid out. Needs Chromium at /usr/bin/chromium (or
 * $UAE_CHROMIUM); CI installs it, so a missing browser fails the test.
 * Screenshots go to $UAE_REPORT_SCREENSHOTS or the temporary directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport, type ReportInput } from '../../libs/report/index.js';
import { launchChromium, openReport } from './browser.js';
import { fashionInput, history, rng, traces } from './fixture.js';

const SHOTS = process.env.UAE_REPORT_SCREENSHOTS ?? tmpdir();

let browser: Browser | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-report-render-'));
  // A missing browser fails each test (openReport) rather than skipping it.
  browser = await launchChromium();
}, 25_000);

afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Mice-Protein-like: 77 features per sample, drawn as strips. */
function miceInput(): ReportInput {
  const d = 77;
  const n = 5;
  const r = rng(5);
  const originals = Float32Array.from({ length: n * d }, () => r());
  const success = [true, true, false, true, false];
  const x = originals.slice();
  success.forEach((ok, row) => {
    if (ok) for (let p = 0; p < d; p += 3) x[row * d + p] = Math.min(1, x[row * d + p]! + 0.2 * r());
  });
  return {
    title: 'Mice Protein (vectors)',
    dataset: 'mice-protein',
    model: 'dense-ae',
    backend: 'cpu',
    seed: 1,
    train_samples: 700,
    test_samples: 300,
    config: { model: 'dense-ae', methods: ['mine', 'none'] },
    methods: {
      original: { test_recon_error: 0.0301 },
      mine: { test_recon_error: 0.0288, improvement: (0.0301 - 0.0288) / 0.0301, asr: 0.6, seconds_per_sample: 0.05 },
      none: { test_recon_error: 0.0305, improvement: (0.0301 - 0.0305) / 0.0301, seconds_per_sample: 0 },
    },
    history: { original: history(10, 0.05, 1), mine: history(10, 0.045, 2), none: history(10, 0.05, 3) },
    images: { inputShape: [d], originals, perMethod: { mine: { x, success } }, ids: [0, 1, 2, 3, 4] },
    traces: { mine: traces([0, 1, 3], 20, 4) },
  };
}

interface PageFacts {
  rows: Array<string | null>;
  images: Array<{ complete: boolean; natural: number; naturalHeight: number; width: number }>;
  svgs: number[];
  overflow: number;
  scripts: number;
}

async function check(name: string, input: ReportInput) {
  const { page, problems, ok } = await openReport(browser, await writeReport(join(dir, name), input));
  try {
    expect(ok).toBe(true);
    // Evaluated in the page (the project compiles without the DOM library, hence a string).
    const facts = (await page.evaluate(`({
      rows: [...document.querySelectorAll('table.results tbody tr')].map((tr) => tr.getAttribute('data-method')),
      images: [...document.images].map((img) => ({ complete: img.complete, natural: img.naturalWidth, naturalHeight: img.naturalHeight, width: Number(img.getAttribute('width')) })),
      svgs: [...document.querySelectorAll('svg')].map((s) => s.getBoundingClientRect().width),
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      scripts: document.scripts.length,
    })`)) as PageFacts;
    await page.screenshot({ path: join(SHOTS, `uae-report-${name}.png`), fullPage: true });
    expect(problems).toEqual([]);
    expect(facts.rows).toEqual(Object.keys(input.methods));
    expect(facts.images.length).toBe(Object.keys(input.images?.perMethod ?? {}).length);
    for (const img of facts.images) {
      expect(img.complete).toBe(true);
      expect(img.natural).toBeGreaterThan(0);
      expect(img.naturalHeight).toBeGreaterThan(0);
      expect(img.natural).toBe(img.width);
    }
    expect(facts.svgs.length).toBeGreaterThanOrEqual(4);
    for (const w of facts.svgs) expect(w).toBeGreaterThan(50);
    expect(facts.overflow).toBeLessThanOrEqual(0);
    expect(facts.scripts).toBe(0);
  } finally {
    await page.close();
  }
}

describe('report.html in headless Chromium', () => {
  it('Fashion-MNIST images: renders with no errors, no requests, decoded images and charts', async () => {
    await check('fashion', await fashionInput(8));
  }, 30_000);

  it('Mice-Protein vectors: renders the strips', async () => {
    await check('mice', miceInput());
  }, 30_000);
});
