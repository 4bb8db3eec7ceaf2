/**
 * `uae watch JOB_ID`: follows a job of a running system (JobService.WatchJob)
 * with a progress bar (samples done/total, samples/s, ETA) and a line per
 * stage; exits 0 when it SUCCEEDED (printing its metrics table), 1 when it
 * FAILED or was CANCELLED (printing the reason). Ctrl-C stops watching, not the job.
 */
import { Command } from 'commander';
import { addRemoteOptions, followJob, processIO, withClient, type RemoteIO } from './remote-common.js';
import { formatOption, type TableFormat } from '../tables.js';

export function remoteWatchCommand(io: RemoteIO = processIO()): Command {
  const cmd = new Command('watch')
    .description('follow a job to its end: progress, stage changes, then the metrics (exit 0) or the reason it failed (exit 1)')
    .argument('<job-id>', 'the job (uae submit prints it)')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the final job record (proto3 JSON) instead of the table (no progress)')
    .addOption(formatOption())
    .option('--interval <ms>', 'without a terminal: at most one progress line per this many ms (default 5000)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error('--interval must be a non-negative integer (ms)');
      return n;
    });
  addRemoteOptions(cmd);
  return cmd.action(async (jobId: string, o: { quiet?: boolean; json?: boolean; interval?: number; format: TableFormat }) => {
    await withClient(cmd, io, (client) => followJob(client, jobId, io, { quiet: o.quiet, json: o.json, intervalMs: o.interval, format: o.format }));
  });
}
