/**
 * `status.json` in a run's --out: what state the run is in, for a person, a
 * script or `--resume`. `running` when it starts, then `complete`,
 * `interrupted` (Ctrl-C, SIGTERM; with what was kept) or `failed` (with the
 * error), each with the stage it was in. Every write is atomic.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from './atomic.js';

export type RunState = 'running' | 'complete' | 'interrupted' | 'failed';

export interface RunStatusRecord {
  status: RunState;
  /** The uae subcommand (pipeline, attack). */
  command: string;
  /** The stage last entered ("train original", "attack mine", …). */
  stage: string;
  started_at: string;
  updated_at: string;
  /** The process writing the run, and the machine it runs on (--out refuses a folder a live run is writing). */
  pid: number;
  host?: string;
  /** interrupted: what was kept; failed: the error. */
  message?: string;
  kept?: string[];
}

export const STATUS_FILE = 'status.json';

export async function readRunStatus(dir: string): Promise<RunStatusRecord | undefined> {
  const path = join(dir, STATUS_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as RunStatusRecord;
  } catch (e) {
    throw new Error(`${path}: not a status file (${(e as Error).message})`);
  }
}

/**
 * Whether the process a `running` status.json names still runs: true or
 * false for a pid on this machine, undefined when that cannot be told (no
 * pid, or written on another host, e.g. on a shared file system).
 */
export function runIsAlive(record: RunStatusRecord): boolean | undefined {
  if (record.status !== 'running' || !Number.isSafeInteger(record.pid) || record.pid <= 0) return undefined;
  if (record.host !== undefined && record.host !== hostname()) return undefined;
  try {
    process.kill(record.pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class RunStatus {
  private record: RunStatusRecord;
  /** Writes run one after another, so the file ends with the last state. */
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    command: string,
    stage: string,
  ) {
    const now = new Date().toISOString();
    this.record = { status: 'running', command, stage, started_at: now, updated_at: now, pid: process.pid, host: hostname() };
  }

  /** Writes the `running` record (at `stage`, 'start' unless given) and returns the run's status. */
  static async start(dir: string, command: string, stage = 'start'): Promise<RunStatus> {
    const s = new RunStatus(join(dir, STATUS_FILE), command, stage);
    await s.write();
    return s;
  }

  get stage(): string {
    return this.record.stage;
  }

  /** Records the stage now entered (the write is queued; finish() waits for it). */
  enter(stage: string): void {
    if (this.record.status !== 'running' || stage === this.record.stage) return;
    this.record = { ...this.record, stage };
    void this.write().catch(() => {});
  }

  async finish(status: Exclude<RunState, 'running'>, extra: { message?: string; kept?: string[] } = {}): Promise<void> {
    this.record = { ...this.record, status, ...extra };
    await this.write();
  }

  private write(): Promise<void> {
    const record = { ...this.record, updated_at: new Date().toISOString() };
    this.writes = this.writes.then(() => writeAtomic(this.path, JSON.stringify(record, null, 2) + '\n'));
    return this.writes;
  }
}
