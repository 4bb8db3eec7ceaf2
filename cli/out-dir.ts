/**
 * The --out policy of the commands that write a run (pipeline, attack,
 * train): a new or empty directory is used as is; one that holds another run
 * is refused unless --resume (continue it) or --force (clear it first), so the
 * files of two runs never end up side by side. A non-empty directory that
 * holds no run is refused even with --force: clearing it could delete
 * someone's files. A directory a live run is writing (status.json `running`,
 * its pid alive on this machine) is refused even with --resume or --force; a
 * `running` status.json whose process is gone is an interrupted run.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { readRunStatus, runIsAlive, STATUS_FILE } from './run-status.js';

/** Files whose presence marks a directory as a run's output (status.json, or what runs wrote before it existed; train.json: a `uae train` model). */
const RUN_MARKERS = [STATUS_FILE, 'config.json', 'metrics.json', 'results.json', 'train.json'];

export interface OutPolicy {
  command: string;
  resume?: boolean;
  force?: boolean;
  /** Whether the command has --resume (uae train has not): the refusal only offers what exists. */
  resumable?: boolean;
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
  let state = '';
  if (status) {
    const alive = status.status === 'running' ? runIsAlive(status) : undefined;
    if (alive) {
      throw new InvalidArgumentError(
        `--out ${dir} is in use: a \`uae ${status.command}\` run (pid ${status.pid}) is writing it (status.json "running" at "${status.stage}"); wait for it or stop it (kill -INT ${status.pid}), or use another --out`,
      );
    }
    state =
      alive === false
        ? ` (interrupted at "${status.stage}": status.json says running, but its process ${status.pid} is gone)`
        : ` (${status.status}${status.status === 'running' ? '' : ` at "${status.stage}"`})`;
  }
  if (status && status.command !== p.command && !p.force) {
    throw new InvalidArgumentError(`--out ${dir} holds a \`uae ${status.command}\` run, not a \`uae ${p.command}\` one; use another --out (or --force to replace it)`);
  }
  if (p.resume) return { earlierRun: true };
  if (p.force) {
    await Promise.all(entries.map((e) => rm(join(dir, e), { recursive: true, force: true })));
    return { earlierRun: false };
  }
  const options = p.resumable === false ? 'use --force to replace it' : 'use --resume to continue it, --force to replace it';
  throw new InvalidArgumentError(`--out ${dir} holds another run${state}; ${options}, or another --out`);
}
