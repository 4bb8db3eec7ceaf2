/** The report's study section: paired verdicts, interval charts and the attacks' diagnostics. */
import { beforeAll, describe, expect, it } from 'vitest';
import { renderReport, type ReportInput } from '../../libs/report/index.js';
import { fashionInput } from './fixture.js';

const summary = (median: number) => ({ mean: median, median, min: median / 2, max: median * 2, count: 10 });
let input: ReportInput;

beforeAll(async () => {
  input = {
    ...(await fashionInput(4)),
    study: {
      seeds: [0, 1, 2],
      intervals: { original: { test_recon_error: [0.0120, 0.0126] }, mine: { test_recon_error: [0.0105, 0.0115] }, repeat: { test_recon_error: [0.0118, 0.0120] } },
      comparisons: [
        { arm: 'mine', control: 'repeat', metric: 'test_recon_error', diff: -0.0008, ci95: [-0.0012, -0.0004], verdict: 'better', seeds: 3 },
        { arm: 'mine', control: 'l2', metric: 'test_recon_error', diff: 0.0001, ci95: [-0.0003, 0.0005], verdict: 'indistinguishable', seeds: 3 },
        { arm: 'mine', control: 'original', metric: 'accuracy', diff: -0.02, ci95: [-0.03, -0.01], verdict: 'worse', seeds: 3 },
      ],
      diagnostics: { mine: { linf: summary(0.09), l2: summary(1.2), rel_move: summary(0.15), cos_delta0: summary(0.98), samples: 10 } },
    },
  };
});

describe('report study section', () => {
  it('lists every comparison with its interval and verdict, coloured by direction', async () => {
    const html = await renderReport(input);
    expect(html).toContain('id="study"');
    expect(html).toContain('href="#study"');
    const rows = [...html.matchAll(/<tr data-arm="([^"]*)" data-control="([^"]*)">(.*?)<\/tr>/g)];
    expect(rows.map((r) => `${r[1]}/${r[2]}`)).toEqual(['mine/repeat', 'mine/l2', 'mine/original']);
    expect(rows[0]![3]).toContain('<td class="pos">better</td>');
    expect(rows[1]![3]).toContain('<td class="">indistinguishable</td>');
    expect(rows[2]![3]).toContain('<td class="neg">worse</td>');
    expect(rows[2]![3]).toContain('-2.00 %');
    expect(html).toContain('3 seeds');
    // The seeds in the header, the interval column in the results table, interval and diagnostics charts.
    expect(html).toContain('<dt>seeds</dt><dd>0, 1, 2</dd>');
    expect(html).toContain('<th scope="col">95% CI</th>');
    expect(html).toContain('[0.010500, 0.011500]');
    expect(html).toMatch(/data-chart="interval"><svg/);
    expect(html).toMatch(/data-chart="diagnostics"><svg/);
    expect(html).toContain('0.150 [0.0750, 0.300]');
  });

  it('says why there are no verdicts with one seed, and has no study section without a study', async () => {
    const one = await renderReport({ ...input, study: { ...input.study!, seeds: [0], comparisons: [], intervals: {} } });
    expect(one).toContain('One seed: no interval can be computed');
    expect(one).not.toContain('data-chart="interval"');
    const none = await renderReport({ ...input, study: undefined });
    expect(none).not.toContain('id="study"');
  });
});
