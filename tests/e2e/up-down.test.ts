/**
 * `npm run up` / `npm run down`: a local cluster of real processes — a
 * nats-server and the five services — each SERVING with its metrics, the
 * bearer token enforced, and nothing left running afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, UaeClientError } from '../../libs/client/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const SERVICES = ['mine-estimator', 'trainer', 'evaluator', 'attack-optimizer', 'orchestrator'];

let dir: string | undefined;
const tsx = (script: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(root, 'scripts', script), ...args], {
    cwd: root,
    env: { ...process.env, UAE_CLUSTER_DIR: dir!, UAE_DATA_DIR: join(dir!, 'data') },
    timeout: 180_000,
  });

afterAll(async () => {
  if (dir) {
    await tsx('down.ts').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('npm run up / down', () => {
  it('starts nats-server and the five services, each SERVING with /metrics, and stops them all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-up-'));
    const { stdout } = await tsx('up.ts', '--random-ports');
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^nats nats:\/\/127\.0\.0\.1:\d+/);
    const addresses = new Map<string, { grpc: string; metrics: string }>();
    for (const line of lines) {
      const m = /^([a-z-]+) grpc (\S+) metrics (\S+)$/.exec(line);
      if (m) addresses.set(m[1]!, { grpc: m[2]!, metrics: m[3]! });
    }
    expect([...addresses.keys()].sort()).toEqual([...SERVICES].sort());
    const token = (await readFile(join(dir, 'token'), 'utf8')).trim();
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { nats: { pid: number }; services: { pid: number }[] };
    const pids = [state.nats.pid, ...state.services.map((p) => p.pid)];
    expect(pids.length).toBe(SERVICES.length + 1);

    for (const [name, a] of addresses) {
      const client = connect({ address: a.grpc });
      try {
        expect(await client.health(''), name).toBe('SERVING');
        // Calls need the token (health does not).
        const denied = await client.jobs.list({ pageSize: 1 }).next().catch((e: unknown) => e);
        if (name === 'orchestrator') expect((denied as UaeClientError).codeName).toBe('UNAUTHENTICATED');
      } finally {
        client.close();
      }
      const metrics = await (await fetch(`http://${a.metrics}/metrics`)).text();
      expect(metrics, name).toMatch(/^uae_service_ready 1$/m);
    }
    const orchestrator = connect({ address: addresses.get('orchestrator')!.grpc, token });
    try {
      const jobs = [];
      for await (const job of orchestrator.jobs.list({ pageSize: 5 })) jobs.push(job);
      expect(jobs).toEqual([]);
    } finally {
      orchestrator.close();
    }

    await tsx('down.ts');
    // Gone, or a zombie waiting for its reaper (its command line is empty then).
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
    });
    expect(alive).toEqual([]);
  });
});
