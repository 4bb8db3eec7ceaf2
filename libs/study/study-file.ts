/**
 * The study file of `uae study` (docs/study-command.md): a name, `defaults`
 * (a partial run document) and cells, each naming a paper row
 * (libs/study/paper.ts) and its own partial run document. A cell's run is
 * defaults ← cell.run ← the budget overrides of the command line, resolved by
 * the pipeline's run-document schema (libs/augment run-config.ts, the single
 * source of defaults), so every field `uae pipeline --config` takes works in
 * a cell. JSON, or YAML for a .yaml/.yml file.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { mergeRunConfig, parseRunConfig, RunConfigError, type PipelineRun } from '../augment/run-config.js';
import { PAPER_ROW_KEYS, paperRow, type PaperRowKey } from './paper.js';
import type { Kinded } from '../errors/index.js';

/** Marks a study file; optional on input. */
export const STUDY_FILE_KIND = 'uae.study';

const runPart = z.record(z.string(), z.unknown());

const StudyFileSchema = z.strictObject({
  kind: z.literal(STUDY_FILE_KIND).optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  defaults: runPart.default({}),
  cells: z
    .array(
      z.strictObject({
        /** The cell's folder under <out>/cells/: letters, digits, . _ - */
        id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-" (it names the cell\'s folder)'),
        row: z.enum(PAPER_ROW_KEYS),
        description: z.string().optional(),
        run: runPart.default({}),
      }),
    )
    .min(1),
});

export type StudyFileInput = z.input<typeof StudyFileSchema>;

/**
 * The budget flags of `uae study`, applied to every cell over its own run
 * (e.g. a quick look at a study file at a tenth of its budget).
 */
export interface BudgetOverrides {
  seeds?: number[];
  epochs?: number;
  retrainEpochs?: number;
  trainSamples?: number;
  testSamples?: number;
  iterations?: number;
  mineSteps?: number;
}

/** The flag behind each run-document field an override sets (for messages). */
const OVERRIDE_FLAGS: Record<string, string> = {
  seeds: '--seeds',
  epochs: '--epochs',
  retrainEpochs: '--retrain-epochs',
  trainSamples: '--train-samples',
  testSamples: '--test-samples',
  'attack.iterations': '--iterations',
  'attack.mineSteps': '--mine-steps',
};

/** The overrides as a partial run document. */
export function overrideDocument(o: BudgetOverrides): Record<string, unknown> {
  const attack = { ...(o.iterations !== undefined ? { iterations: o.iterations } : {}), ...(o.mineSteps !== undefined ? { mineSteps: o.mineSteps } : {}) };
  return {
    ...(o.seeds !== undefined ? { seeds: o.seeds } : {}),
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.retrainEpochs !== undefined ? { retrainEpochs: o.retrainEpochs } : {}),
    ...(o.trainSamples !== undefined ? { trainSamples: o.trainSamples } : {}),
    ...(o.testSamples !== undefined ? { testSamples: o.testSamples } : {}),
    ...(Object.keys(attack).length > 0 ? { attack } : {}),
  };
}

export interface StudyCell {
  id: string;
  row: PaperRowKey;
  description?: string;
  /** The resolved run document (every default filled in). */
  run: PipelineRun;
}

export interface Study {
  kind: typeof STUDY_FILE_KIND;
  name: string;
  description?: string;
  /** As written (partial). */
  defaults: Record<string, unknown>;
  /** The budget flags given (empty: none). */
  overrides: BudgetOverrides;
  cells: StudyCell[];
}

/** A study file that does not parse; each problem names its field (`cells[2].run.attack.iterations`). */
export class StudyFileError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'StudyFileError';
  constructor(
    readonly problems: Array<{ field: string; message: string }>,
    source?: string,
  ) {
    super(`${source ? `${source}: ` : ''}${problems.map((p) => `${p.field || '(document)'}: ${p.message}`).join('; ')}`);
  }
}

/** ['cells', 2, 'run', 'epochs'] → cells[2].run.epochs */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

function has(doc: unknown, dotted: string): boolean {
  let v = doc;
  for (const k of dotted.split('.')) {
    if (typeof v !== 'object' || v === null || !(k in v)) return false;
    v = (v as Record<string, unknown>)[k];
  }
  return true;
}

function valueAt(doc: unknown, dotted: string): unknown {
  let v = doc;
  for (const k of dotted.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** One problem of the defaults or of a flag, found in several cells, said once: `defaults.epochs (cells[0], cells[2]): …`. */
function mergeCellMentions(problems: Array<{ field: string; message: string }>): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  const merged = new Map<string, { field: string; message: string; cells: string[] }>();
  for (const p of problems) {
    const m = /^(.*) \((cells\[\d+\])\)$/.exec(p.field);
    if (!m) {
      out.push(p);
      continue;
    }
    const key = `${m[1]}\n${p.message}`;
    const seen = merged.get(key);
    if (seen) seen.cells.push(m[2]!);
    else {
      const entry = { field: m[1]!, message: p.message, cells: [m[2]!] };
      merged.set(key, entry);
      out.push(entry);
    }
  }
  return out.map((p) => ('cells' in p ? { field: `${p.field} (${(p as { cells: string[] }).cells.join(', ')})`, message: p.message } : p));
}

/** Reads a study file's text: YAML when the name ends in .yaml or .yml, JSON otherwise. */
export function studyFileText(text: string, name: string): unknown {
  const yaml = /\.ya?ml$/i.test(name);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new StudyFileError([{ field: '', message: `not ${yaml ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}` }], name);
  }
}

/**
 * Parses a study file and resolves every cell's run (defaults ← cell.run ←
 * overrides) through the run-document schema. Every problem of every cell is
 * reported, each naming where it is: `cells[i].run.<field>` when the cell
 * sets it, `defaults.<field>` when the defaults do, the flag when an
 * override does.
 */
export function parseStudyFile(input: unknown, opts: { source?: string; overrides?: BudgetOverrides } = {}): Study {
  const problems: Array<{ field: string; message: string }> = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new StudyFileError([{ field: '', message: 'expected an object (a study file: name, defaults, cells)' }], opts.source);
  const parsed = StudyFileSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') for (const k of issue.keys) problems.push({ field: fieldPath([...issue.path, k]), message: 'unknown field' });
      else if (issue.code === 'invalid_value' && issue.path.at(-1) === 'row') problems.push({ field: fieldPath(issue.path), message: `not a paper row; one of ${PAPER_ROW_KEYS.join(', ')}` });
      else problems.push({ field: fieldPath(issue.path), message: issue.message.replace(/^Invalid input: /, '') });
    }
    throw new StudyFileError(problems, opts.source);
  }
  const file = parsed.data;
  const overrides = opts.overrides ?? {};
  const over = overrideDocument(overrides);
  const seen = new Map<string, number>();
  const cells: StudyCell[] = [];
  for (const [i, cell] of file.cells.entries()) {
    const at = `cells[${i}]`;
    const earlier = seen.get(cell.id);
    if (earlier !== undefined) problems.push({ field: `${at}.id`, message: `"${cell.id}" is also cells[${earlier}].id` });
    seen.set(cell.id, i);
    // Where a field of the merged document came from, for the message.
    const where = (field: string) => {
      if (!field) return `${at}.run`;
      if (OVERRIDE_FLAGS[field] && has(over, field)) return `${OVERRIDE_FLAGS[field]} (${at})`;
      if (has(cell.run, field) || !has(file.defaults, field)) return `${at}.run.${field}`;
      return `defaults.${field} (${at})`;
    };
    let run: PipelineRun;
    try {
      run = parseRunConfig(mergeRunConfig(mergeRunConfig(file.defaults, cell.run), over));
    } catch (e) {
      if (!(e instanceof RunConfigError)) throw e;
      for (const p of e.problems) problems.push({ field: where(p.field), message: p.message });
      continue;
    }
    const row = paperRow(cell.row)!;
    if (row.model !== 'classifier' && run.model !== row.model) problems.push({ field: where('model'), message: `row ${cell.row} (${row.source}) is the paper's ${row.model}; got "${run.model}"` });
    for (const req of row.requires ?? []) {
      const got = valueAt(run, req.field);
      if (JSON.stringify(got) !== JSON.stringify(req.value)) {
        problems.push({ field: where(req.field), message: `row ${cell.row} (${row.source}) needs ${JSON.stringify(req.value)}; got ${got === undefined ? 'nothing (not a field of this version\'s run document)' : JSON.stringify(got)}` });
      }
    }
    cells.push({ id: cell.id, row: cell.row, ...(cell.description !== undefined ? { description: cell.description } : {}), run });
  }
  if (problems.length > 0) throw new StudyFileError(mergeCellMentions(problems), opts.source);
  return {
    kind: STUDY_FILE_KIND,
    name: file.name,
    ...(file.description !== undefined ? { description: file.description } : {}),
    defaults: file.defaults,
    overrides,
    cells,
  };
}
