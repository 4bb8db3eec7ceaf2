/**
 * Runs a uae service (services/<name>/main.ts) as a real child process for a
 * test: ephemeral ports (UAE_GRPC_PORT=0, UAE_METRICS_PORT=0, loopback), a
 * bearer token, a fresh temporary UAE_DATA_DIR (embedded bus) unless given, or
 * UAE_NATS_URL for a real nats-server. Resolves once the service printed its
 * ready line ("<name> grpc HOST:PORT metrics HOST:PORT", i.e. SERVING).
 *
 *   const svc = await startServiceProcess('mine-estimator');
 *   const client = svc.client(v1.MineServiceClient);
 *   const res = await unary(client, 'estimate', request, svc.metadata());
 *   await svc.stop();                        // SIGTERM, waits for exit (SIGKILL after 10 s)
 *
 * Every process started here is SIGKILLed when the test process exits (and a
 * tiny shell watchdog kills it if the test process itself is SIGKILLed), so
 * no service outlives its test file. `stopAllServices()` in an afterAll is the
 * polite way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_TOKEN = 'uae-test-token-0123456789';

export interface StartServiceOptions {
  /** Extra environment (wins over the defaults below). */
  env?: Record<string, string | undefined>;
  /** UAE_DATA_DIR; default a fresh temporary directory (removed by stop() when created here). */
  dataDir?: string;
  /** UAE_NATS_URL: use NATS instead of the embedded bus. */
  natsUrl?: string;
  /** Bearer token (default TEST_TOKEN). */
  token?: string;
  /** How long to wait for the ready line (default 60 s). */
  readyTimeoutMs?: number;
  /** UAE_LOG_LEVEL (default 'info'). */
  logLevel?: string;
}

export interface ServiceProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Dialable gRPC address, host:port. */
  readonly grpc: string;
  /** host:port of the metrics server. */
  readonly metrics: string;
  readonly dataDir: string;
  readonly token: string;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** stderr so far (pino JSON lines and anything else). */
  stderr(): string;
  /** The JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** `authorization: Bearer <token>` metadata. */
  metadata(): grpc.Metadata;
  /** A client of a generated (ts-proto grpc-js) client class, closed by stop(). */
  client<C extends grpc.Client>(ctor: new (address: string, creds: grpc.ChannelCredentials, options?: Partial<grpc.ClientOptions>) => C): C;
  /** GET /metrics text. */
  scrape(): Promise<string>;
  /** grpc.health.v1 Check status ('SERVING', 'NOT_SERVING', …) of a service ('' = the server). */
  health(service?: string): Promise<string>;
  /** SIGTERM, wait for exit (SIGKILL after `timeoutMs`, default 10 s); removes a data dir created here. */
  stop(opts?: { timeoutMs?: number; keepDataDir?: boolean }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (a crash) and wait for exit; keeps the data dir. */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
const handles = new Set<ServiceProcess>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'grpc.health.v1.Health');

/** Promise form of a generated client's unary method: `await unary(client, 'estimate', req, md)`. */
export function unary<Res>(
  client: grpc.Client,
  method: string,
  request: unknown,
  metadata: grpc.Metadata = new grpc.Metadata(),
  options: Partial<grpc.CallOptions> = {},
): Promise<Res> {
  const fn = (client as unknown as Record<string, Function>)[method];
  if (typeof fn !== 'function') throw new Error(`client has no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(client, request, metadata, options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
  });
}

/** The error a unary call failed with (fails the test if it succeeded). */
export async function unaryError(
  client: grpc.Client,
  method: string,
  request: unknown,
  metadata?: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
): Promise<grpc.ServiceError & { field?: string }> {
  try {
    await unary(client, method, request, metadata, options);
  } catch (e) {
    const err = e as grpc.ServiceError & { field?: string };
    const field = err.metadata?.get('uae-field')[0];
    if (typeof field === 'string') err.field = field;
    return err;
  }
  throw new Error(`${method} succeeded but an error was expected`);
}

/** Polls `fn` until it returns a value other than undefined/false (default 30 s). */
export async function waitUntil<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One sample of a Prometheus text exposition: value of `name{labels…}` (labels matched as a subset); undefined if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const part of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[part[1]!] = part[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) total = (total ?? 0) + Number(m[4]);
  }
  return total;
}

/**
 * Starts services/<name>/main.ts (`node --import tsx`) and waits for its
 * ready line. Rejects (and kills it) if it exits first or times out, with its stderr.
 */
export async function startServiceProcess(name: string, opts: StartServiceOptions = {}): Promise<ServiceProcess> {
  installExitHook();
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `uae-${name}-`));
  const token = opts.token ?? TEST_TOKEN;
  // Drop inherited UAE_* settings so the test controls the configuration.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UAE_')));
  const env: Record<string, string> = {
    ...(base as Record<string, string>),
    UAE_GRPC_HOST: '127.0.0.1',
    UAE_GRPC_PORT: '0',
    UAE_METRICS_HOST: '127.0.0.1',
    UAE_METRICS_PORT: '0',
    UAE_AUTH_TOKEN: token,
    UAE_LOG_LEVEL: opts.logLevel ?? 'info',
    UAE_DATA_DIR: dataDir,
    ...(opts.natsUrl ? { UAE_NATS_URL: opts.natsUrl } : {}),
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const proc = spawn(process.execPath, ['--import', 'tsx', join('services', name, 'main.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const pid = proc.pid!;
  // If this test process is SIGKILLed its exit hook never runs: a watchdog kills the service.
  spawn('/bin/sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null; exit 0`], {
    stdio: 'ignore',
    detached: false,
  }).unref();

  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 4_000_000) stderr = stderr.slice(-2_000_000);
  });
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      running = false;
      live.delete(proc);
      resolve({ code, signal });
    }),
  );

  const readyRe = new RegExp(`^(\\S+) grpc (\\S+) metrics (\\S+)$`, 'm');
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const ready = await Promise.race([
    waitUntil(() => readyRe.exec(stdout) ?? undefined, timeoutMs, 25).then((m) => ({ grpc: m[2]!, metrics: m[3]! })),
    exited.then(({ code, signal }) => {
      throw new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready:\n${stderr.slice(-4000)}`);
    }),
  ]).catch((e: unknown) => {
    if (running) proc.kill('SIGKILL');
    throw e instanceof Error && /condition not met/.test(e.message) ? new Error(`${name} not ready within ${timeoutMs} ms:\n${stderr.slice(-4000)}`) : e;
  });

  const clients: grpc.Client[] = [];
  const metadata = () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    return md;
  };
  const handle: ServiceProcess = {
    name,
    proc,
    pid,
    grpc: ready.grpc,
    metrics: ready.metrics,
    dataDir,
    token,
    exited,
    get running() {
      return running;
    },
    stderr: () => stderr,
    logs: () =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    metadata,
    client(ctor) {
      const c = new ctor(ready.grpc, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      });
      clients.push(c);
      return c;
    },
    async scrape() {
      const res = await fetch(`http://${ready.metrics}/metrics`);
      return res.text();
    },
    async health(service = '') {
      const c = new HealthClient(ready.grpc, grpc.credentials.createInsecure());
      try {
        const r = await unary<{ status: number | string }>(c, 'Check', { service });
        const names = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
        return typeof r.status === 'number' ? names[r.status]! : r.status;
      } finally {
        c.close();
      }
    },
    async stop(o = {}) {
      for (const c of clients.splice(0)) c.close();
      if (running) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => running && proc.kill('SIGKILL'), o.timeoutMs ?? 10_000);
        await exited.finally(() => clearTimeout(t));
      }
      handles.delete(handle);
      if (ownDir && !o.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
      return exited;
    },
    async kill() {
      for (const c of clients.splice(0)) c.close();
      if (running) proc.kill('SIGKILL');
      await exited;
      handles.delete(handle);
    },
  };
  handles.add(handle);
  return handle;
}

/** Stops every service this test process started and has not stopped yet. */
export async function stopAllServices(): Promise<void> {
  await Promise.all([...handles].map((h) => h.stop()));
}
