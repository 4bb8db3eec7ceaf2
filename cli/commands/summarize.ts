/** `uae summarize DIR`: a finished study's metrics.json as Markdown tables (what docs/results.md shows). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { studyMarkdown, type StudyMetrics } from '../../libs/augment/index.js';
import { RESULT_SCHEMA_VERSION } from '../../libs/results/index.js';

export function summarizeCommand(): Command {
  return new Command('summarize')
    .description('print a study folder (uae pipeline --out) as Markdown tables: means with 95% intervals, diagnostics, paired verdicts')
    .argument('<dir>', 'the --out folder of a finished uae pipeline')
    .option('--quiet', 'no note on stderr (that metrics.json predates the result schema)')
    .action(async (dir: string, o: { quiet?: boolean }) => {
      const path = join(dir, 'metrics.json');
      if (!existsSync(path)) throw new InvalidArgumentError(`${path}: no such file (is ${dir} a finished uae pipeline --out folder?)`);
      const metrics = JSON.parse(await readFile(path, 'utf8')) as StudyMetrics & { schema_version?: unknown };
      // Result documents carry schema_version (docs/results-schema.md); metrics.json of earlier releases does not.
      if (metrics.schema_version !== undefined && metrics.schema_version !== RESULT_SCHEMA_VERSION) {
        throw new InvalidArgumentError(`${path}: schema_version ${JSON.stringify(metrics.schema_version)} is not ${RESULT_SCHEMA_VERSION}, the result schema this uae reads`);
      }
      if (!metrics.methods || !Array.isArray(metrics.seeds) || !Array.isArray(metrics.comparisons)) {
        throw new InvalidArgumentError(`${path}: not a study's metrics.json (no seeds, methods or comparisons)`);
      }
      if (metrics.schema_version === undefined && !o.quiet) {
        process.stderr.write(`${path}: no schema_version (written by a uae before the result schema); read as this version's fields\n`);
      }
      process.stdout.write(studyMarkdown(metrics));
    });
}
