/**
 * The --out policy of the commands that write a run (pipeline, attack): a new
 * or empty directory is used as is; one that holds another run is refused
 * unless --resume (continue it) or --force (clear it first), so the files of
 * two runs never end up side by side. A non-empty directory that holds no run
 * is refused even with --force: clearing it could delete someone's files.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { readRunStatus, STATUS_FILE } from './run-status.js';

/** Files whose presence marks a directory as a run's output (status.json, or what runs wrote before it existed). */
const RUN_MARKERS = [STATUS_FILE, 'config.json', 'metrics.json', 'results.json'];

export interface OutPolicy {
  command: string;
  resume?: boolean;
  force?: boolean;
}

/** Makes `dir` ready for a run of `command`; returns whether it already held one (to resume). */
export async function prepareOutDir(dir: string, p: OutPolicy): Promise<{ earlierRun: boolean }> {
  if (p.resume && p.force) throw new InvalidArgumentError('--resume and --force exclude each other (continue the run in --out, or replace it)');
  if (!existsSync(dir)) {
    await mkdir(dir, { recursive: true });
    return { earlierRun: false };
  }
  const entries = await readdir(dir);
  if (entries.length === 0) return { earlierRun: false };
  const isRun = RUN_MARKERS.some((m) => entries.includes(m));
  if (!isRun) throw new InvalidArgumentError(`--out ${dir} is not empty and holds no uae run; use a new or empty directory`);
  const status = await readRunStatus(dir);
  if (status && status.command !== p.command && !p.force) {
    throw new InvalidArgumentError(`--out ${dir} holds a \`uae ${status.command}\` run, not a \`uae ${p.command}\` one; use another --out (or --force to replace it)`);
  }
  if (p.resume) return { earlierRun: true };
  if (p.force) {
    await Promise.all(entries.map((e) => rm(join(dir, e), { recursive: true, force: true })));
    return { earlierRun: false };
  }
  const state = status ? ` (${status.status}${status.status === 'running' ? '' : ` at "${status.stage}"`})` : '';
  throw new InvalidArgumentError(`--out ${dir} holds another run${state}; use --resume to continue it, --force to replace it, or another --out`);
}
