/**
 * `npm run up` / `npm run down`: a local cluster of real processes — a
 * nats-server and the five services — each SERVING with its metrics, the
 * bearer token enforced, and nothing left running afterwards; with --tls,
 * TLS on every server from a CA made by openssl, role tokens from a file
 * (read cannot submit), the orchestrator's own calls to the trainer over TLS,
 * and the printed `uae` command working as printed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, UaeClientError } from '../../libs/client/index.js';
import { v1 } from '../../libs/proto/index.js';
import { tinyPipeline } from '../services/orchestrator-helpers.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const SERVICES = ['mine-estimator', 'trainer', 'evaluator', 'attack-optimizer', 'orchestrator'];

let dir: string | undefined;
const dirs: string[] = [];
const tsx = (script: string, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(root, 'scripts', script), ...args], {
    cwd: root,
    env: { ...process.env, UAE_CLUSTER_DIR: dir!, UAE_DATA_DIR: join(dir!, 'data') },
    timeout: 180_000,
  });

afterAll(async () => {
  for (const d of dirs) {
    dir = d;
    await tsx('down.ts').catch(() => undefined);
    await rm(d, { recursive: true, force: true });
  }
});

/** Pids of the state file's processes still running (a zombie waiting for its reaper has an empty command line). */
function stillAlive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
  });
}

describe('npm run up / down', () => {
  it('starts nats-server and the five services, each SERVING with /metrics, and stops them all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-up-'));
    dirs.push(dir);
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

  it('--tls: every server speaks TLS with the generated CA, role tokens from the file, the printed uae command works', async () => {
    dir = await mkdtemp(join(tmpdir(), 'uae-up-tls-'));
    dirs.push(dir);
    const { stdout } = await tsx('up.ts', '--random-ports', '--tls');
    const caFile = join(dir, 'tls', 'ca.pem');
    expect(stdout).toContain(`tls ca ${caFile}`);
    expect(stdout).toContain(`tokens ${join(dir, 'tokens')} (read, submit, admin`);
    const use = /^use: npx uae submit --server (\S+) --tls-ca (\S+) --token "\$\(cat (\S+)\)"/m.exec(stdout);
    expect(use, stdout).not.toBeNull();
    expect(use![2]).toBe(caFile);
    const addresses = new Map<string, string>();
    for (const m of stdout.matchAll(/^([a-z-]+) grpc (\S+) metrics \S+$/gm)) addresses.set(m[1]!, m[2]!);
    expect([...addresses.keys()].sort()).toEqual([...SERVICES].sort());
    expect(use![1]).toBe(addresses.get('orchestrator'));
    const roles = Object.fromEntries(
      (await readFile(join(dir, 'tokens'), 'utf8'))
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(' ') as [string, string]),
    );
    expect(Object.keys(roles).sort()).toEqual(['admin', 'read', 'submit']);
    expect((await readFile(use![3]!, 'utf8')).trim()).toBe(roles['submit']);
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { nats: { pid: number }; services: { pid: number }[]; tls?: { caFile: string } };
    expect(state.tls?.caFile).toBe(caFile);
    const ca = await readFile(caFile);

    for (const [name, address] of addresses) {
      const secure = connect({ address, tls: { rootCerts: ca } });
      const plain = connect({ address, deadlineMs: 3000 });
      try {
        expect(await secure.health(''), name).toBe('SERVING');
        // plaintext is not answered
        expect(await plain.health('').catch((e: unknown) => (e as UaeClientError).codeName), name).toBe('UNAVAILABLE');
      } finally {
        secure.close();
        plain.close();
      }
    }
    const orchestrator = addresses.get('orchestrator')!;
    const as = (role: string) => connect({ address: orchestrator, tls: { rootCerts: ca }, token: roles[role] });
    const reader = as('read');
    const submitter = as('submit');
    try {
      // read lists, but cannot submit
      const none = [];
      for await (const job of reader.jobs.list({ pageSize: 5 })) none.push(job);
      expect(none).toEqual([]);
      const denied = await reader.jobs.submitPipeline(tinyPipeline()).catch((e: unknown) => e);
      expect((denied as UaeClientError).codeName).toBe('PERMISSION_DENIED');
      // submit can: the orchestrator's own Train call to the trainer goes over TLS with the admin token
      const { job } = await submitter.jobs.submitPipeline(tinyPipeline());
      let seen: v1.Job | undefined;
      const deadline = Date.now() + 150_000;
      while (Date.now() < deadline) {
        seen = await submitter.jobs.get(job!.jobId);
        if (seen.state === v1.JobState.JOB_STATE_FAILED || (seen.stage?.kind ?? 0) > v1.StageKind.STAGE_KIND_TRAIN) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(v1.jobStateToJSON(seen!.state), JSON.stringify(seen?.error)).not.toBe('JOB_STATE_FAILED');
      expect(seen!.stage?.kind, 'the pipeline got past its training stage').toBeGreaterThan(v1.StageKind.STAGE_KIND_TRAIN);
      await submitter.jobs.cancel(job!.jobId, 'test done');
      // the printed command, as printed (npx uae = bin/uae.mjs), lists the job
      const listed = await run(process.execPath, [join(root, 'bin/uae.mjs'), 'jobs', '--server', use![1]!, '--tls-ca', use![2]!, '--token', roles['submit']!], { cwd: root, timeout: 60_000 });
      expect(listed.stdout).toContain(job!.jobId);
    } finally {
      reader.close();
      submitter.close();
    }

    await tsx('down.ts');
    expect(stillAlive([state.nats.pid, ...state.services.map((p) => p.pid)])).toEqual([]);
  }, 400_000);
});
