import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, TOKEN, clients, healthStatus, waitFor } from './helpers.js';

const SERVE = join(FIXTURES, 'serve.ts');
let child: ChildProcess | undefined;

function serve(env: Record<string, string>) {
  const { UAE_AUTH_TOKEN: _t, UAE_AUTH_DISABLED: _d, ...base } = process.env;
  const proc = spawn(process.execPath, ['--import', 'tsx', SERVE], {
    env: { ...base, UAE_GRPC_HOST: '127.0.0.1', UAE_METRICS_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child = proc;
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const lines = () =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, exited, lines, stderr: () => stderr };
}

afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

describe('service-kit as a process', () => {
  it('exits 2 with every bad variable named when the configuration is invalid', async () => {
    const s = serve({ UAE_GRPC_PORT: 'http', UAE_LOG_LEVEL: 'loud' });
    expect(await s.exited).toBe(2);
    const out = s.stderr();
    expect(out).toMatch(/invalid service configuration \(3 problems\)/);
    expect(out).toMatch(/UAE_GRPC_PORT="http": must be an integer gRPC port/);
    expect(out).toMatch(/UAE_LOG_LEVEL="loud": must be one of/);
    expect(out).toMatch(/UAE_AUTH_TOKEN \/ UAE_AUTH_DISABLED: neither is set/);
  });

  it('serves, then shuts down gracefully on SIGTERM and exits 0', async () => {
    const s = serve({ UAE_AUTH_TOKEN: TOKEN, UAE_LOG_LEVEL: 'info' });
    const listening = await waitFor(() => s.lines().find((l) => l.msg === 'listening'), 20_000);
    const address = listening.grpc as string;
    await waitFor(() => s.lines().find((l) => l.msg === 'health' && l.status === 'SERVING'), 10_000);
    const c = clients(address);
    try {
      expect(await healthStatus(c.health)).toBe('SERVING');
    } finally {
      c.close();
    }
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const msgs = s.lines().map((l) => l.msg);
    expect(msgs).toContain('shutting down');
    expect(msgs.at(-1)).toBe('stopped');
  });
});
