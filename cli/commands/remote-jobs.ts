/**
 * `uae jobs`: the jobs of a running system (JobService.ListJobs), newest first;
 * `uae jobs get JOB_ID`, `uae jobs cancel JOB_ID`.
 *
 *   uae jobs --state running --label team=ml
 *   uae jobs cancel 01HX… --reason "wrong config"
 */
import { Command } from 'commander';
import { isTerminal, jobStateName, parseJobKind, parseJobState, type ListJobsFilter } from '../../libs/client/index.js';
import { v1 } from '../../libs/proto/index.js';
import { formatOption, type TableFormat } from '../tables.js';
import { addRemoteOptions, collectLabel, jobRow, printResult, processIO, stageLabel, textTable, withClient, type RemoteIO } from './remote-common.js';

const collectStates = (v: string, prev: v1.JobState[] = []) => [...prev, ...v.split(',').filter(Boolean).map(parseJobState)];

export function remoteJobsCommand(io: RemoteIO = processIO()): Command {
  const jobs = new Command('jobs')
    .description('list the jobs of a running system, newest first (subcommands: get, cancel)')
    .option('--state <states>', 'only these states: queued, running, succeeded, failed, cancelled (comma-separated or repeated)', collectStates)
    .option('--kind <kind>', 'only this kind: pipeline, attack, training', parseJobKind)
    .option('--label <k=v>', 'only jobs with this label (repeatable)', collectLabel)
    .option('--limit <n>', 'at most this many jobs (default 100; 0 = all)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error('--limit must be a non-negative integer');
      return n;
    })
    .option('--json', 'the jobs as a JSON array of Job records')
    .option('--quiet', 'no note on stderr when no job matches');
  addRemoteOptions(jobs);
  jobs.action(async (o: { state?: v1.JobState[]; kind?: v1.JobKind; label?: Record<string, string>; limit?: number; json?: boolean; quiet?: boolean }) => {
    const limit = o.limit ?? 100;
    const filter: ListJobsFilter = { states: o.state, kind: o.kind, labels: o.label, pageSize: limit > 0 ? Math.min(limit, 1000) : 1000 };
    await withClient(jobs, io, async (client) => {
      const found: v1.Job[] = [];
      for await (const job of client.jobs.list(filter)) {
        found.push(job);
        if (limit > 0 && found.length >= limit) break;
      }
      if (o.json) io.out.write(JSON.stringify(found.map((j) => v1.Job.toJSON(j)), null, 2) + '\n');
      else if (found.length > 0) io.out.write(textTable(found.map(jobRow)));
      else if (!o.quiet) io.err.write('no jobs\n');
    });
  });

  const get = new Command('get')
    .description("a job's record: state, stage, progress, error or result")
    .argument('<job-id>')
    .option('--json', 'the Job record as JSON')
    .option('--quiet', 'no note on stderr (that a job not finished has no result yet)')
    .addOption(formatOption());
  addRemoteOptions(get);
  get.action(async (jobId: string) => {
    // --json and --quiet may have been taken by `jobs` itself (its options are recognised after the subcommand too).
    const o = get.optsWithGlobals<{ json?: boolean; quiet?: boolean; format: TableFormat }>();
    await withClient(get, io, async (client) => {
      const job = await client.jobs.get(jobId);
      if (o.json) {
        io.out.write(JSON.stringify(v1.Job.toJSON(job), null, 2) + '\n');
        return;
      }
      // --format json: the result document alone (a succeeded pipeline), like metrics.json.
      if (o.format === 'json' && job.state !== v1.JobState.JOB_STATE_SUCCEEDED) {
        throw new Error(`--format json: job ${job.jobId} is ${jobStateName(job.state)}, and only a SUCCEEDED pipeline has a result document`);
      }
      if (o.format === 'table') io.out.write(textTable([jobRow(job)]));
      if (job.error) io.out.write(`error${job.error.stage ? ` in stage "${job.error.stage}"` : ''}: ${job.error.message}\n`);
      if (job.state === v1.JobState.JOB_STATE_SUCCEEDED) printResult(job, io, o.format);
      else if (!isTerminal(job.state) && !o.quiet) io.err.write(`job ${job.jobId} is ${jobStateName(job.state)}: no result yet (uae watch ${job.jobId} follows it)\n`);
    });
  });

  const cancel = new Command('cancel')
    .description('cancel a job (idempotent; a finished job is left as it is)')
    .argument('<job-id>')
    .option('--reason <text>', 'why (stored with the job)', 'cancelled from the uae CLI')
    .option('--json', 'the job after the request as JSON')
    .option('--quiet', 'no note on stderr (that the job had already ended)');
  addRemoteOptions(cancel);
  cancel.action(async (jobId: string) => {
    const o = cancel.optsWithGlobals<{ reason: string; json?: boolean; quiet?: boolean }>();
    await withClient(cancel, io, async (client) => {
      const job = await client.jobs.cancel(jobId, o.reason);
      if (isTerminal(job.state) && job.state !== v1.JobState.JOB_STATE_CANCELLED && !o.quiet) {
        io.err.write(`job ${job.jobId} had already ended ${jobStateName(job.state)}; left as it is\n`);
      }
      if (o.json) io.out.write(JSON.stringify(v1.Job.toJSON(job), null, 2) + '\n');
      else io.out.write(`${job.jobId} ${jobStateName(job.state)}${job.stage ? ` (${stageLabel(job.stage)})` : ''}\n`);
    });
  });

  return jobs.addCommand(get).addCommand(cancel);
}
