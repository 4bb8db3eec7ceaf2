/**
 * `uae study FILE --out DIR`: the cells of a study file (libs/study), each a
 * `uae pipeline` run (cli/pipeline-run.ts, the same code) into
 * DIR/cells/<id>/, with a progress bar over cells; then DIR/study.json (the
 * resolved study, the tool, every cell's metrics document) and DIR/study.md
 * (per paper row: the paper's value, ours with intervals, the budget, the
 * controls, the verdicts). Both are rewritten after every finished cell.
 * Ctrl-C stops the current cell as `uae pipeline` does (exit 130);
 * `--resume` skips the finished cells and resumes the interrupted one.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { parseRunConfig, runConfigDifferences, type RecordedRun } from '../../libs/augment/index.js';
import { paperRow, parseStudyFile, studyFileText, type BudgetOverrides, type Study } from '../../libs/study/index.js';
import type { ResultDocument } from '../../libs/results/index.js';
import { progressSink, type ProgressSink } from '../progress.js';
import { addOutputOptions, addRunOptions, int } from '../options.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { readRunStatus, RunStatus } from '../run-status.js';
import { toolInfo, type RecordedTool } from '../tool-info.js';
import { writeAtomic } from '../atomic.js';
import { runPipelineInto } from '../pipeline-run.js';
import { studyReport } from '../study-report.js';
import { machineInfo, studyDocText } from '../study-doc.js';
import { seedList } from './pipeline.js';

/** Marks study.json. */
export const STUDY_RESULT_KIND = 'uae.study-result';

export const cellDir = (out: string, id: string) => join(out, 'cells', id);

/** Reads and resolves a study file with the budget flags over every cell. */
export async function readStudyFile(path: string, overrides: BudgetOverrides): Promise<Study> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`${path}: ${(e as Error).message}`);
  }
  return parseStudyFile(studyFileText(text, path), { source: path, overrides });
}

/**
 * A cell finished by an earlier run of the same study: status.json
 * `complete`, metrics.json there, and its config.json the same run (seeds
 * included). Anything else runs (resuming what the folder kept).
 */
async function finishedCell(dir: string, recorded: RecordedRun): Promise<{ metrics: ResultDocument; run: RecordedRun } | undefined> {
  const status = await readRunStatus(dir).catch(() => undefined);
  if (status?.status !== 'complete' || !existsSync(join(dir, 'metrics.json')) || !existsSync(join(dir, 'config.json'))) return undefined;
  try {
    const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as RecordedRun;
    const earlier = parseRunConfig(raw);
    if (runConfigDifferences({ ...earlier, backend: recorded.backend }, recorded).length > 0) return undefined;
    if (JSON.stringify(earlier.seeds) !== JSON.stringify(recorded.seeds)) return undefined;
    // The cell as it ran (its tool and backend), not as this run would record it.
    return { metrics: JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as ResultDocument, run: raw };
  } catch {
    return undefined;
  }
}

/** The pipeline's progress inside a cell, shown on the study's bar over cells (a second bar would fight it on a terminal). */
function cellProgress(outer: ProgressSink, id: string, done: () => number): ProgressSink {
  let stage = '';
  let total = 0;
  return {
    start(s, t) {
      stage = s;
      total = t;
      outer.update(done(), `${id}: ${s}`);
    },
    update(d, extra) {
      outer.update(done(), `${id}: ${stage} ${d}/${total}${extra ? ` ${extra}` : ''}`);
    },
    stop() {},
    log(line) {
      if (process.stderr.isTTY) outer.update(done(), `${id}: ${line}`);
      else outer.log(`[${id}] ${line}`);
    },
  };
}

function studyDocument(study: Study, source: string, tool: RecordedTool, backend: string, recorded: Map<string, RecordedRun>, metrics: Map<string, ResultDocument>) {
  return {
    kind: STUDY_RESULT_KIND,
    name: study.name,
    ...(study.description !== undefined ? { description: study.description } : {}),
    source,
    tool,
    backend,
    overrides: study.overrides,
    defaults: study.defaults,
    complete: study.cells.every((c) => metrics.has(c.id)),
    cells: study.cells.map((c) => {
      const row = paperRow(c.row)!;
      const m = metrics.get(c.id);
      return {
        id: c.id,
        row: c.row,
        paper: { table: row.table, source: row.source, dataset: row.dataset, model: row.model, values: row.values },
        ...(c.description !== undefined ? { description: c.description } : {}),
        dir: `cells/${c.id}`,
        status: m ? 'complete' : 'pending',
        run: recorded.get(c.id),
        ...(m ? { metrics: m } : {}),
      };
    }),
  };
}

export function studyCommand(): Command {
  const cmd = new Command('study')
    .description("run a study file's cells (each a uae pipeline run, docs/study-command.md) and write study.json and study.md: per paper row the paper's value, ours with 95% intervals, the budget, the controls and the verdicts")
    .argument('<file>', 'the study file: JSON, or YAML (.yaml/.yml); examples/study-tiny.json')
    .option('--out <dir>', 'output directory: new or empty (see --resume, --force); cells go to <dir>/cells/<id>/; required unless --dry-run')
    .option('--dry-run', 'print the resolved study (every cell\'s run document, defaults filled in) and exit')
    .option('--seeds <list>', 'budget override for every cell: the seeds, e.g. 0,1,2', seedList)
    .option('--epochs <n>', 'budget override for every cell: training epochs of the original', int('--epochs'))
    .option('--retrain-epochs <n>', 'budget override for every cell: retraining epochs (cap)', int('--retrain-epochs'))
    .option('--train-samples <n>', 'budget override for every cell: training samples', int('--train-samples'))
    .option('--test-samples <n>', 'budget override for every cell: test samples', int('--test-samples'))
    .option('--iterations <n>', 'budget override for every cell: attack iterations T', int('--iterations'))
    .option('--mine-steps <n>', 'budget override for every cell: MINE steps per iteration', int('--mine-steps'))
    .option('--doc <file>', 'once every cell is finished, also write FILE: the regenerating command, the machine and study.md above an end marker, the hand-written text below it kept (docs/results.md)');
  addRunOptions(cmd, 'continue the interrupted study in --out: skip the finished cells, resume the interrupted one');
  addOutputOptions(cmd);
  return cmd.action(async (file: string, o) => {
    const json = Boolean(o.json);
    const quiet = Boolean(o.quiet || json);
    const overrides: BudgetOverrides = Object.fromEntries(
      (['seeds', 'epochs', 'retrainEpochs', 'trainSamples', 'testSamples', 'iterations', 'mineSteps'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]),
    );
    const started = performance.now();
    const study = await readStudyFile(file, overrides);
    const info = await initBackend();
    const tool = toolInfo();
    const recorded = new Map<string, RecordedRun>(study.cells.map((c) => [c.id, { ...c.run, tool, backend: info.name }]));
    const metrics = new Map<string, ResultDocument>();
    const document = () => studyDocument(study, file, tool, info.name, recorded, metrics);
    if (o.dryRun) {
      process.stdout.write(JSON.stringify(document(), null, 2) + '\n');
      return;
    }
    if (!o.out) throw new InvalidArgumentError('--out is required (or --dry-run)');
    const out: string = o.out;
    const { earlierRun } = await prepareOutDir(out, { command: 'study', resume: o.resume, force: o.force });
    await mkdir(join(out, 'cells'), { recursive: true });
    const status = await RunStatus.start(out, 'study');
    const write = async () => {
      await writeAtomic(join(out, 'study.json'), JSON.stringify(document(), null, 2) + '\n');
      await writeAtomic(join(out, 'study.md'), studyReport(study, metrics, { source: file, tool, backend: info.name }));
    };
    const progress = progressSink({ quiet });
    const n = study.cells.length;
    progress.log(`study "${study.name}": ${n} cell${n === 1 ? '' : 's'} (${study.cells.map((c) => c.id).join(', ')}); backend ${info.name} (${info.provider}); out ${out}`);
    const interrupt = interruptScope();
    const kept: string[] = [];
    const stopped = async (cell: string | undefined, detail?: { signal: NodeJS.Signals; stage: string; summary: string }) => {
      progress.stop();
      await write();
      const what = [...(kept.length > 0 ? [`cell${kept.length > 1 ? 's' : ''} ${kept.join(', ')} (finished)`] : []), ...(cell && detail ? [`cell ${cell}: ${detail.summary}`] : [])];
      const summary = what.length > 0 ? what.join('; ') : 'no finished cell';
      await status.finish('interrupted', { message: `kept ${summary}`, kept: what });
      const where = cell ? ` in cell ${cell}${detail ? ` at "${detail.stage}"` : ''}` : ' between cells';
      process.stderr.write(`uae: interrupted (${detail?.signal ?? interrupt.interrupted})${where}: kept ${summary} in ${out}; rerun with --resume to continue\n`);
      process.exitCode = INTERRUPTED_EXIT_CODE;
    };
    try {
      progress.start('study cells', n);
      for (const [i, cell] of study.cells.entries()) {
        if (interrupt.interrupted) return await stopped(undefined);
        const dir = cellDir(out, cell.id);
        const run = recorded.get(cell.id)!;
        const earlier = earlierRun ? await finishedCell(dir, run) : undefined;
        if (earlier) {
          metrics.set(cell.id, earlier.metrics);
          recorded.set(cell.id, earlier.run);
          kept.push(cell.id);
          progress.log(`cell ${cell.id} (${i + 1} of ${n}): finished earlier, kept (${dir})`);
          progress.update(kept.length, `${cell.id}: kept`);
          continue;
        }
        status.enter(`cell ${cell.id}`);
        progress.log(`cell ${cell.id} (${i + 1} of ${n}): ${paperRow(cell.row)!.source}`);
        let outcome;
        try {
          outcome = await runPipelineInto(run, {
            out: dir,
            resume: earlierRun && existsSync(dir),
            progress: cellProgress(progress, cell.id, () => kept.length),
            backend: info,
            signal: interrupt.signal,
            interrupted: () => interrupt.interrupted,
          });
        } catch (e) {
          progress.stop();
          const message = `cell ${cell.id}: ${(e as Error).message}`;
          await status.finish('failed', { message });
          throw new Error(message, { cause: e });
        }
        if (outcome.state === 'interrupted') return await stopped(cell.id, outcome);
        metrics.set(cell.id, outcome.document);
        kept.push(cell.id);
        await write();
        progress.update(kept.length, `${cell.id}: finished`);
        progress.log(`cell ${cell.id} (${i + 1} of ${n}): finished`);
      }
    } finally {
      interrupt.dispose();
    }
    progress.stop();
    await write();
    if (o.doc) {
      const doc: string = o.doc;
      const existing = existsSync(doc) ? await readFile(doc, 'utf8') : undefined;
      const studyMd = await readFile(join(out, 'study.md'), 'utf8');
      const finished = new Date().toISOString();
      const cells = await Promise.all(
        study.cells.map(async (c) => {
          const st = await readRunStatus(cellDir(out, c.id)).catch(() => undefined);
          return { id: c.id, commit: recorded.get(c.id)?.tool?.commit, startedAt: st?.started_at, finishedAt: st?.updated_at };
        }),
      );
      await writeAtomic(doc, studyDocText({ title: 'Results', studyMd, args: process.argv.slice(2), machine: machineInfo(), finished, seconds: (performance.now() - started) / 1000, existing, cells }));
      progress.log(`wrote ${doc} (the part above its end marker; the rest kept)`);
    }
    await status.finish('complete');
    if (json) process.stdout.write(JSON.stringify(document(), null, 2) + '\n');
    else if (!quiet) process.stdout.write(await readFile(join(out, 'study.md'), 'utf8'));
    progress.log(`wrote ${join(out, 'study.md')}, study.json, status.json and per cell the uae pipeline outputs in cells/<id>/ (uae summarize ${join(out, 'cells', '<id>')})`);
  });
}
