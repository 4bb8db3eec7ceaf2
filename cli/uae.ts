/**
 * `uae` — the command-line front end of the in-process libraries.
 *
 *   uae pipeline --dataset SPEC --model KIND --methods mine,l2,ga-0.1,repeat,none --out DIR …
 *   uae train    --dataset SPEC --model KIND --out MODEL_DIR …
 *   uae attack   --model-dir MODEL_DIR (--dataset SPEC | --x A.npy) --out DIR [--json] …
 *   uae evaluate --model-dir MODEL_DIR --dataset SPEC [--json]
 *   uae mine estimate --x A.npy --y B.npy [--steps N]
 *   uae summarize DIR            (a study's metrics.json as Markdown)
 *   uae study    FILE --out DIR  (a study file's cells → study.json, study.md)
 *   uae supervised --dataset SPEC --out DIR …  (Table 3, Figure 3, Adv/UAE robustness curves)
 *   uae --version
 *
 * Errors, usage errors included, print one line `uae: <message>` and exit
 * with code 2 (cli/conventions.ts).
 */
import { Command } from 'commander';
import { toolInfo } from '../libs/runtime/package-info.js';
import { applyConventions, errorLine } from './conventions.js';
import { pipelineCommand } from './commands/pipeline.js';
import { trainCommand } from './commands/train.js';
import { attackCommand } from './commands/attack.js';
import { evaluateCommand } from './commands/evaluate.js';
import { mineCommand } from './commands/mine.js';
import { summarizeCommand } from './commands/summarize.js';
import { studyCommand } from './commands/study.js';
import { supervisedCommand } from './commands/supervised.js';
import { remoteSubmitCommand } from './commands/remote-submit.js';
import { remoteWatchCommand } from './commands/remote-watch.js';
import { remoteJobsCommand } from './commands/remote-jobs.js';
import { remoteArtifactsCommand } from './commands/remote-artifacts.js';

const program = new Command()
  .name('uae')
  .description('MINE-based unsupervised adversarial examples as data augmentation')
  .version(toolInfo().version, '-V, --version', 'print the version and exit')
  .addCommand(pipelineCommand())
  .addCommand(trainCommand())
  .addCommand(attackCommand())
  .addCommand(evaluateCommand())
  .addCommand(mineCommand())
  .addCommand(summarizeCommand())
  .addCommand(studyCommand())
  .addCommand(supervisedCommand())
  .addCommand(remoteSubmitCommand())
  .addCommand(remoteWatchCommand())
  .addCommand(remoteJobsCommand())
  .addCommand(remoteArtifactsCommand());
applyConventions(program);

try {
  await program.parseAsync();
} catch (e) {
  const { line, exitCode } = errorLine(e);
  if (line) process.stderr.write(`${line}\n`);
  process.exitCode = exitCode;
}
