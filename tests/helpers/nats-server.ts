/**
 * Starts a private nats-server (JetStream, file storage in a temp dir) on free loopback
 * ports for a test, and can stop / kill / restart it on the same port and store.
 * Never touches a server it did not start; every server started here is killed on
 * stop(), and SIGKILLed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

export function natsServerAvailable(): boolean {
  return existsSync(NATS_SERVER_BIN);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function healthy(monitorPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

export interface NatsServerHandle {
  readonly port: number;
  readonly monitorPort: number;
  readonly url: string;
  readonly storeDir: string;
  readonly pid: number | undefined;
  /** running right now */
  readonly running: boolean;
  /** SIGTERM (graceful) and wait for exit */
  stop(): Promise<void>;
  /** SIGKILL (crash) and wait for exit */
  kill(): Promise<void>;
  /** start again on the same ports and store dir */
  start(): Promise<void>;
  /** stop (or kill with `{ kill: true }`), then start */
  restart(opts?: { kill?: boolean; downMs?: number }): Promise<void>;
  /** stop and remove the store dir */
  dispose(): Promise<void>;
}

export interface StartNatsOptions {
  /** extra server arguments */
  args?: string[];
  /** readiness timeout (default 15 s) */
  readyTimeoutMs?: number;
}

export async function startNatsServer(opts: StartNatsOptions = {}): Promise<NatsServerHandle> {
  installExitHook();
  const storeDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'uae-nats-'));
  const port = await freePort();
  let monitorPort = await freePort();
  while (monitorPort === port) monitorPort = await freePort();
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async (): Promise<void> => {
    if (proc) return;
    log = '';
    const child = spawn(
      NATS_SERVER_BIN,
      ['-js', '-sd', storeDir, '-p', String(port), '-a', '127.0.0.1', '-m', String(monitorPort), ...(opts.args ?? [])],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (b: Buffer) => {
      log = (log + b.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    proc = child;
    live.add(child);
    // if this test process dies without running its exit hook (SIGTERM, SIGKILL), a tiny
    // watchdog kills the server within a second; it also ends by itself when the server stops
    const watchdog = spawn(
      '/bin/sh',
      ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null; exit 0`],
      { stdio: 'ignore' },
    );
    watchdog.unref();
    live.add(watchdog);
    watchdog.once('exit', () => live.delete(watchdog));
    exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (proc === child) proc = null;
        resolve();
      });
    });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (proc !== child) throw new Error(`nats-server exited during start-up:\n${log}`);
      if (await healthy(monitorPort)) return;
      await sleep(50);
    }
    child.kill('SIGKILL');
    await exited;
    throw new Error(`nats-server not ready on port ${port} within the timeout:\n${log}`);
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    if (!p) return;
    p.kill(signal);
    const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      p.kill('SIGKILL');
      await exited;
    }
  };

  await start();

  const handle: NatsServerHandle = {
    port,
    monitorPort,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    get pid() {
      return proc?.pid;
    },
    get running() {
      return proc !== null;
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    start,
    async restart(o = {}) {
      await halt(o.kill ? 'SIGKILL' : 'SIGTERM');
      if (o.downMs) await sleep(o.downMs);
      await start();
    },
    async dispose() {
      await halt('SIGKILL');
      await fsp.rm(storeDir, { recursive: true, force: true });
    },
  };
  return handle;
}
