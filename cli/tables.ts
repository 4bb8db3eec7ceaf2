/**
 * The result tables of `uae` (pipeline, watch, submit --watch, jobs get) in
 * the format --format asks for: a boxed text table (cli-table3), Markdown or
 * CSV. `--format json` is not a table: the commands print the result document
 * (docs/results-schema.md) instead.
 */
import Table from 'cli-table3';
import { Option } from 'commander';

export const TABLE_FORMATS = ['table', 'json', 'md', 'csv'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** --format on a command that prints results. */
export function formatOption(): Option {
  return new Option('--format <format>', 'results as a text table, json (the result document, docs/results-schema.md), Markdown or CSV').choices([...TABLE_FORMATS]).default('table');
}

export type Row = Record<string, string>;

/** Columns of the rows, in first-seen order. */
function columnsOf(rows: readonly Row[]): string[] {
  const cols: string[] = [];
  for (const r of rows) for (const c of Object.keys(r)) if (!cols.includes(c)) cols.push(c);
  return cols;
}

/** A boxed table, no colours, numbers and percentages right-aligned. */
export function boxTable(rows: readonly Row[]): string {
  const cols = columnsOf(rows);
  const numeric = cols.map((c) => rows.every((r) => (r[c] ?? '') === '' || /^[-+]?[\d.]+(e[-+]?\d+)?%?$/.test(r[c]!)));
  const table = new Table({ head: cols, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' }, colAligns: numeric.map((n) => (n ? 'right' : 'left')) });
  for (const r of rows) table.push(cols.map((c) => r[c] ?? ''));
  // Row rules are off (chars above); one rule under the header, drawn like the top border.
  const lines = table.toString().split('\n');
  const rule = lines[0]!.replace('┌', '├').replace(/┬/g, '┼').replace('┐', '┤');
  return [lines[0], lines[1], rule, ...lines.slice(2)].join('\n') + '\n';
}

/** A GitHub-flavoured Markdown table (| escaped in cells). */
export function markdownTable(rows: readonly Row[]): string {
  const cols = columnsOf(rows);
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(cols), `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n') + '\n';
}

/** RFC 4180 CSV: a header line, then one line per row; cells with , " or a newline are quoted. */
export function csvTable(rows: readonly Row[]): string {
  const cols = columnsOf(rows);
  const cell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [cols.map(cell).join(','), ...rows.map((r) => cols.map((c) => cell(r[c] ?? '')).join(','))].join('\n') + '\n';
}

/** Rows in a table format (json excluded: callers print the document). */
export function renderRows(rows: readonly Row[], format: Exclude<TableFormat, 'json'>): string {
  if (rows.length === 0) return '';
  switch (format) {
    case 'table':
      return boxTable(rows);
    case 'md':
      return markdownTable(rows);
    case 'csv':
      return csvTable(rows);
  }
}
