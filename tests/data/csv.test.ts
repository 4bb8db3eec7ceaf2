import { describe, expect, it } from 'vitest';
import { CsvFormatError, loadMiceProtein, parseCsv, tabularFromCsv } from '../../libs/data/index.js';

describe('CSV parsing', () => {
  it('handles quotes, escaped quotes, CRLF and a missing final newline', () => {
    const { header, rows } = parseCsv('a,b,c\r\n1,"x, y",3\r\n4,"say ""hi""",6');
    expect(header).toEqual(['a', 'b', 'c']);
    expect(rows).toEqual([['1', 'x, y', '3'], ['4', 'say "hi"', '6']]);
  });

  it('names the row of a ragged line and rejects unterminated quotes', () => {
    expect(() => parseCsv('a,b\n1,2\n3\n', 'f.csv')).toThrow(/f.csv: row 3 has 1 fields, the header has 2/);
    expect(() => parseCsv('a\n"oops\n')).toThrow(CsvFormatError);
  });
});

describe('tabular datasets', () => {
  // 10 rows: f1 numeric with a missing value, f2 numeric, name text (excluded automatically), y label.
  const csv = ['id,f1,f2,name,y', ...Array.from({ length: 10 }, (_, i) => `${i},${i === 3 ? '' : i * 2},${100 - i},n${i},${i % 2 ? 'odd' : 'even'}`)].join('\n');

  it('fills missing values and fits min-max scaling on the training rows only', () => {
    const ds = tabularFromCsv(csv, { labelColumn: 'y', exclude: ['id'], seed: 3 });
    expect(ds.featureNames).toEqual(['f1', 'f2']);
    expect(ds.classes).toEqual(['even', 'odd']);
    expect(ds.train.n + ds.test.n).toBe(10);
    expect(ds.test.n).toBe(2);
    const trainRows = Array.from({ length: 10 }, (_, i) => i).filter((i) => !ds.testRows.includes(i));
    const f1Train = trainRows.filter((i) => i !== 3).map((i) => i * 2);
    expect(ds.scaling.fill[0]).toBeCloseTo(f1Train.reduce((a, b) => a + b, 0) / f1Train.length, 10);
    expect(ds.scaling.min[1]).toBe(Math.min(...trainRows.map((i) => 100 - i)));
    for (const v of [...ds.train.x, ...ds.test.x]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    // Some training value hits each end of the range.
    for (let j = 0; j < 2; j++) {
      const col = Array.from({ length: ds.train.n }, (_, k) => ds.train.x[k * 2 + j]!);
      expect(Math.min(...col)).toBe(0);
      expect(Math.max(...col)).toBe(1);
    }
    expect(ds.train.labels.every((l) => l === 0 || l === 1)).toBe(true);
  });

  it('splits deterministically by seed', () => {
    const a = tabularFromCsv(csv, { labelColumn: 'y', seed: 1 });
    const b = tabularFromCsv(csv, { labelColumn: 'y', seed: 1 });
    const c = tabularFromCsv(csv, { labelColumn: 'y', seed: 2 });
    expect(a.testRows).toEqual(b.testRows);
    expect(a.testRows).not.toEqual(c.testRows);
  });

  it('reports a missing label or a non-numeric feature column by name', () => {
    expect(() => tabularFromCsv(csv, { labelColumn: 'label' })).toThrow(/no label column "label"/);
    expect(() => tabularFromCsv(csv, { labelColumn: 'y', featureColumns: ['name'] })).toThrow(/"name" is not numeric/);
  });

  it('loads the bundled Mice Protein data as in the paper (864/216, 77 proteins, 8 classes)', async () => {
    const ds = await loadMiceProtein(0);
    expect(ds.d).toBe(77);
    expect(ds.classes).toHaveLength(8);
    expect([ds.train.n, ds.test.n]).toEqual([864, 216]);
    expect(ds.train.x.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});
