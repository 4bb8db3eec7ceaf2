/**
 * Shared pieces of the `uae` subcommands that talk to a running system
 * (submit, watch, jobs, artifacts): the --server/--token options, the
 * connection, job watching with progress, and result tables.
 *
 * These modules import only libs/client and libs/proto (no tfjs), and take an
 * IO object so tests can run them in-process.
 */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { readFileSync } from 'node:fs';
import { connect, isTerminal, jobKindName, jobStateName, statusName, type ConnectOptions, type UaeClient } from '../../libs/client/index.js';
import { augmentationMethodName, studyMetricsFromProto, v1 } from '../../libs/proto/index.js';
import { resultDocumentFromJob } from '../../libs/results/index.js';
import { studyTables } from '../result-tables.js';
import type { TableFormat } from '../tables.js';

export const DEFAULT_SERVER = '127.0.0.1:50050';

/** Where a remote command writes and how it ends (process.* by default). */
export interface RemoteIO {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Draw progress bars (stderr is a terminal). */
  tty: boolean;
  /** Sets the exit code (0 success, 1 failed/cancelled job; errors thrown are reported by uae.ts with 2). */
  exit(code: number): void;
}

export function processIO(): RemoteIO {
  return {
    out: process.stdout,
    err: process.stderr,
    env: process.env,
    tty: Boolean(process.stderr.isTTY),
    exit: (code) => {
      process.exitCode = code;
    },
  };
}

/** --server, --token, --tls, --timeout on a remote command. */
export function addRemoteOptions(cmd: Command): Command {
  return cmd
    .option('--server <host:port>', `the orchestrator's gRPC address (env UAE_SERVER; default ${DEFAULT_SERVER})`)
    .option('--token <token>', 'bearer token (env UAE_AUTH_TOKEN)')
    .option('--tls', 'use TLS with the system roots (default: plaintext)')
    .option('--tls-ca <file>', 'use TLS, verifying the server against this CA (PEM; env UAE_TLS_CA)')
    .option('--tls-cert <file>', 'client certificate for mTLS (PEM; env UAE_TLS_CLIENT_CERT; with --tls-key)')
    .option('--tls-key <file>', 'its private key (PEM; env UAE_TLS_CLIENT_KEY)')
    .option('--tls-server-name <name>', "the name the server's certificate must carry, when it differs from --server's host")
    .option('--timeout <ms>', 'deadline of each unary call in ms (default 30000; 0 = none)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error('--timeout must be a non-negative integer (ms)');
      return n;
    });
}

export interface RemoteGlobals {
  server?: string;
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  timeout?: number;
}

/** ConnectOptions.tls from the flags and the environment; undefined = plaintext. */
export function tlsOptions(o: RemoteGlobals, env: Record<string, string | undefined>): ConnectOptions['tls'] {
  const ca = o.tlsCa || env['UAE_TLS_CA'];
  const cert = o.tlsCert || env['UAE_TLS_CLIENT_CERT'];
  const key = o.tlsKey || env['UAE_TLS_CLIENT_KEY'];
  if (Boolean(cert) !== Boolean(key)) throw new Error('--tls-cert and --tls-key go together (UAE_TLS_CLIENT_CERT / UAE_TLS_CLIENT_KEY)');
  if (!ca && !cert && !o.tlsServerName) return o.tls ? true : undefined;
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`${flag}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  return {
    ...(ca ? { rootCerts: read(ca, '--tls-ca') } : {}),
    ...(cert && key ? { certChain: read(cert, '--tls-cert'), privateKey: read(key, '--tls-key') } : {}),
    ...(o.tlsServerName ? { serverName: o.tlsServerName } : {}),
  };
}

/** Connects with the command's (and its parents') options, runs `fn`, always closes. */
export async function withClient<T>(cmd: Command, io: RemoteIO, fn: (client: UaeClient) => Promise<T>): Promise<T> {
  const o = cmd.optsWithGlobals<RemoteGlobals>();
  const client = connect({
    address: o.server || io.env['UAE_SERVER'] || DEFAULT_SERVER,
    token: o.token || io.env['UAE_AUTH_TOKEN'] || undefined,
    tls: tlsOptions(o, io.env),
    deadlineMs: o.timeout ?? 30_000,
  });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Commander's repeatable `k=v`. */
export function collectLabel(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new Error(`--label must be KEY=VALUE; got "${v}"`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

// ---------------------------------------------------------------------------
// Formatting

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);

export function stageLabel(stage: v1.Stage | undefined): string {
  if (!stage) return '';
  const name = stage.name || [stageKindName(stage.kind), stage.method].filter(Boolean).join(' ');
  return stage.count > 0 ? `[${stage.index + 1}/${stage.count}] ${name}` : name;
}

function stageKindName(kind: v1.StageKind): string {
  return ((v1.StageKind as unknown as Record<number, string>)[kind] ?? '').replace(/^STAGE_KIND_/, '').toLowerCase().replace('unspecified', '');
}

/** "120/500 samples" or "epoch 3/20" (or '' before any progress). */
export function progressText(p: v1.Progress | undefined): string {
  if (!p) return '';
  if (p.samplesTotal > 0) return `${p.samplesDone}/${p.samplesTotal} samples`;
  if (p.epochsTotal > 0) return `epoch ${p.epochsDone}/${p.epochsTotal}`;
  return '';
}

/** One progress line: counts, rate, ETA, ASR or loss. */
export function progressLine(stage: v1.Stage | undefined, p: v1.Progress): string {
  const parts = [progressText(p)];
  if (p.samplesTotal > 0) {
    parts[0] += ` (${(p.fraction * 100).toFixed(1)}%)`;
    parts.push(`${p.samplesPerSecond.toFixed(2)} samples/s`);
    if (p.samplesDone > 0) parts.push(`ASR ${pct(p.asr)}`);
  } else if (p.loss !== undefined) {
    parts.push(`loss ${p.loss.toFixed(5)}`);
  }
  parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
  return `${stageLabel(stage) || 'progress'}: ${parts.filter(Boolean).join(', ')}`;
}

/** Fixed-width text table (no index column). */
export function textTable(rows: Record<string, string>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n') + '\n';
}

/** The arms of a pipeline job by their metrics key, in config order. */
function armsOf(job: v1.Job): string[] {
  if (job.spec?.kind?.$case !== 'pipeline') return [];
  return job.spec.kind.value.methods.flatMap((m) => {
    try {
      return [augmentationMethodName(m)];
    } catch {
      return [];
    }
  });
}

/**
 * Prints a succeeded job's result: for pipelines the result tables of `uae
 * pipeline` in `format` (json: the result document, the schema of
 * metrics.json); the summary for attacks and training.
 */
export function printResult(job: v1.Job, io: RemoteIO, format: TableFormat = 'table'): void {
  if (format === 'json') {
    io.out.write(JSON.stringify(resultDocumentFromJob(job), null, 2) + '\n');
    return;
  }
  const r = job.result?.kind;
  switch (r?.$case) {
    case 'pipeline': {
      const m = r.value.metrics;
      if (!m) break;
      const metrics = studyMetricsFromProto(m, 'result.pipeline.metrics');
      if (format === 'table') io.out.write(`${metrics.dataset}, ${metrics.model}, backend ${metrics.backend || '?'}, seed ${metrics.seed}: ${metrics.train_samples} train / ${metrics.test_samples} test samples\n`);
      io.out.write(studyTables(metrics, format, armsOf(job)));
      return;
    }
    case 'attack': {
      const a = r.value;
      io.out.write(`${a.samples} samples, ${a.succeeded} succeeded (ASR ${pct(a.asr)}), ${a.secondsPerSample.toFixed(3)} s/sample\n`);
      if (a.similaritySummary) io.out.write(`similarity of successes: mean ${a.similaritySummary.mean.toFixed(4)}, median ${a.similaritySummary.median.toFixed(4)}\n`);
      for (const [name, ref] of [['x_adv', a.xAdv], ['success', a.success], ['similarity', a.similarity], ['results', a.results]] as const) {
        if (ref) io.out.write(`${name}: ${ref.sha256} (${ref.sizeBytes} bytes)\n`);
      }
      return;
    }
    case 'training': {
      const t = r.value;
      io.out.write(`model ${t.modelId}: ${t.history?.epochs.length ?? 0} epochs`);
      if (t.testReconError !== undefined) io.out.write(`, test recon error ${t.testReconError.toFixed(5)}`);
      if (t.testAccuracy !== undefined) io.out.write(`, test accuracy ${pct(t.testAccuracy)}`);
      io.out.write('\n');
      return;
    }
  }
  io.out.write(`job ${job.jobId} succeeded (no result recorded)\n`);
}

// ---------------------------------------------------------------------------
// Watching

export interface FollowOptions {
  /** No progress output (stage changes and the outcome still go to stderr unless json). */
  quiet?: boolean;
  /** Print the final Job as JSON on stdout instead of the table; no progress. */
  json?: boolean;
  /** Non-TTY: at most one progress line per stage every this many ms (the first is printed at once). */
  intervalMs?: number;
  skipProgress?: boolean;
  /** How printResult prints a succeeded job's result (default table). */
  format?: TableFormat;
}

/** Progress display: a bar per stage on a terminal, throttled lines otherwise. */
class ProgressView {
  private bar: cliProgress.SingleBar | undefined;
  private barStage = '';
  private lastLine = 0;
  private lineStage = '';

  constructor(
    private readonly io: RemoteIO,
    private readonly opts: FollowOptions,
  ) {}

  log(line: string): void {
    this.stopBar();
    this.io.err.write(`${line}\n`);
  }

  progress(stage: v1.Stage | undefined, p: v1.Progress): void {
    if (this.opts.quiet || this.opts.json) return;
    const label = stageLabel(stage) || 'progress';
    const total = p.samplesTotal > 0 ? p.samplesTotal : p.epochsTotal;
    const done = p.samplesTotal > 0 ? p.samplesDone : p.epochsDone;
    if (this.io.tty && total > 0) {
      const extra =
        p.samplesTotal > 0
          ? `${p.samplesPerSecond.toFixed(2)} samples/s${p.samplesDone > 0 ? `, ASR ${pct(p.asr)}` : ''}`
          : p.loss !== undefined
            ? `loss ${p.loss.toFixed(5)}`
            : '';
      const eta = formatDuration(p.etaSeconds);
      if (!this.bar || this.barStage !== label) {
        this.stopBar();
        this.bar = new cliProgress.SingleBar(
          {
            format: `${label.padEnd(24)} [{bar}] {value}/{total} {unit} | {extra} | ETA {etaText}`,
            stream: this.io.err as NodeJS.WriteStream,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        this.barStage = label;
        this.bar.start(total, done, { unit: p.samplesTotal > 0 ? 'samples' : 'epochs', extra, etaText: eta });
      } else {
        this.bar.setTotal(total);
        this.bar.update(done, { extra, etaText: eta });
      }
      return;
    }
    const now = Date.now();
    if (label === this.lineStage && now - this.lastLine < (this.opts.intervalMs ?? 5000) && !(total > 0 && done >= total)) return;
    this.lineStage = label;
    this.lastLine = now;
    this.io.err.write(`${progressLine(stage, p)}\n`);
  }

  stopBar(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.barStage = '';
  }
}

/**
 * Watches a job to its end with progress on stderr, then prints the result
 * (stdout) and sets the exit code: 0 SUCCEEDED, 1 FAILED or CANCELLED.
 * Reconnects (resuming after the last event) if the server goes away for a while.
 */
export async function followJob(client: UaeClient, jobId: string, io: RemoteIO, opts: FollowOptions = {}): Promise<v1.Job> {
  const view = new ProgressView(io, opts);
  const say = (line: string) => {
    if (!opts.json) view.log(line);
  };
  let stage: v1.Stage | undefined;
  let announced = false;
  const job = await client.jobs.wait(jobId, {
    skipProgress: opts.skipProgress || opts.quiet || opts.json,
    reconnect: { retries: 8, backoffMs: 500 },
    onMessage: (msg) => {
      const k = msg.kind;
      if (!k) return;
      if (k.$case === 'snapshot') {
        const j = k.value;
        if (!announced) say(`job ${j.jobId} (${jobKindName(j.kind).toLowerCase()}): ${jobStateName(j.state)}${j.stage ? `, ${stageLabel(j.stage)}` : ''}`);
        announced = true;
        stage = j.stage;
        if (j.progress && j.stage && !isTerminal(j.state)) view.progress(j.stage, j.progress);
        return;
      }
      const p = k.value.payload;
      switch (p?.$case) {
        case 'stage':
          stage = p.value.current;
          say(stageLabel(stage));
          break;
        case 'progress':
          view.progress(p.value.stage ?? stage, p.value.progress ?? v1.Progress.fromPartial({}));
          break;
        default:
          break;
      }
    },
  });
  view.stopBar();
  const elapsed = job.startedAt && job.finishedAt ? ` in ${formatDuration((job.finishedAt.getTime() - job.startedAt.getTime()) / 1000)}` : '';
  if (opts.json) io.out.write(JSON.stringify(v1.Job.toJSON(job), null, 2) + '\n');
  if (job.state === v1.JobState.JOB_STATE_SUCCEEDED) {
    say(`job ${job.jobId} SUCCEEDED${elapsed}`);
    if (!opts.json) printResult(job, io, opts.format);
    io.exit(0);
  } else {
    const e = job.error;
    const where = e?.stage ? ` in stage "${e.stage}"` : '';
    const code = e && e.code ? `${statusName(e.code)}: ` : '';
    io.err.write(`job ${job.jobId} ${jobStateName(job.state)}${where}${elapsed}: ${code}${e?.message || '(no reason given)'}\n`);
    io.exit(1);
  }
  return job;
}

/** A job as one table row (for `uae jobs`). */
export function jobRow(j: v1.Job): Record<string, string> {
  return {
    id: j.jobId,
    kind: jobKindName(j.kind).toLowerCase(),
    state: jobStateName(j.state),
    stage: stageLabel(j.stage),
    progress: isTerminal(j.state) ? '' : progressText(j.progress),
    created: j.createdAt ? j.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z') : '',
    labels: Object.entries(j.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  };
}
