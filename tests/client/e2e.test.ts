/**
 * The clients against the real system: a private nats-server, the
 * orchestrator (JobService + ArtifactService; training and evaluation in its
 * process) and one attack-optimizer worker. `uae submit --watch` runs the tiny
 * Mice Protein study of examples/pipeline-mice.json to SUCCEEDED, the Python
 * client submits the same study, watches it and reads its result, and
 * artifacts go up with one client and come back with the other.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type UaeClient } from '../../libs/client/index.js';
import { v1 } from '../../libs/proto/index.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startServiceProcess, TEST_TOKEN, type ServiceProcess } from '../helpers/services.js';
import { python, pythonClientAvailable } from './python-helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const MICE = join(root, 'examples/pipeline-mice.json');
const ENV = { UAE_BACKEND: 'wasm', UAE_ACK_WAIT_MS: '5000', UAE_MAX_DELIVER: '5' };

function uae(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 180_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** metrics without the wall-clock field. */
/** The metrics without the wall-clock numbers (seconds_per_sample, also in the per-seed maps). */
function comparable(m: v1.PipelineMetrics | undefined): Record<string, unknown> {
  const drop = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).filter(([f]) => f !== 'seconds_per_sample'));
  return Object.fromEntries(
    Object.entries(m?.methods ?? {}).map(([k, x]) => [k, { ...x, secondsPerSample: undefined, perSeed: drop(x.perSeed), std: drop(x.std), ci95: drop(x.ci95) }]),
  );
}

describe.skipIf(!natsServerAvailable())('clients against the orchestrator (e2e)', () => {
  let nats: NatsServerHandle;
  let orchestrator: ServiceProcess;
  let attack: ServiceProcess;
  let client: UaeClient;
  let env: Record<string, string>;
  let dir: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    const base = { natsUrl: nats.url, logLevel: 'warn' };
    [orchestrator, attack] = await Promise.all([
      startServiceProcess('orchestrator', { ...base, env: { ...ENV, UAE_PIPELINE_POLL_MS: '100' } }),
      startServiceProcess('attack-optimizer', { ...base, env: { ...ENV, UAE_ATTACK_THREADS: '1' } }),
    ]);
    env = { UAE_SERVER: orchestrator.grpc, UAE_AUTH_TOKEN: TEST_TOKEN };
    client = connect({ address: orchestrator.grpc, token: TEST_TOKEN, deadlineMs: 30_000 });
    dir = await mkdtemp(join(tmpdir(), 'uae-client-e2e-'));
  });

  afterAll(async () => {
    client?.close();
    await Promise.all([orchestrator?.stop({ timeoutMs: 5000 }), attack?.stop({ timeoutMs: 5000 })]);
    await nats?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let tsJobId = '';

  it('uae submit --watch runs the study to SUCCEEDED and prints its metrics', async () => {
    expect(await client.health('uae.v1.JobService')).toBe('SERVING');
    expect(await client.health('uae.v1.ArtifactService')).toBe('SERVING');
    const ts = await uae(['submit', '--config', MICE, '--watch', '--label', 'client=ts', '--interval', '0'], env);
    expect(ts.stderr).toMatch(/^submitted job (\S+)\n/);
    expect(ts.code, ts.stderr).toBe(0);
    tsJobId = /^submitted job (\S+)\n/.exec(ts.stderr)![1]!;
    expect(ts.stderr).toMatch(/generate mine/);
    expect(ts.stderr).toMatch(/SUCCEEDED/);
    expect(ts.stdout).toMatch(/mice-protein/);
    for (const arm of ['original', 'mine', 'ga-0.05']) expect(ts.stdout).toContain(arm);
    const listed = JSON.parse((await uae(['jobs', '--json', '--state', 'succeeded', '--label', 'client=ts'], env)).stdout) as Array<{ jobId: string }>;
    expect(listed.map((j) => j.jobId)).toEqual([tsJobId]);
  });

  it.skipIf(!pythonClientAvailable)('the Python client submits the same study, watches it and reads its result', async () => {
    const py = await python(['submit', '--config', MICE, '--watch', '--label', 'client=python'], env);
    expect(py.code, py.stderr).toBe(0);
    const pyJobId = /^submitted job (\S+)\n/.exec(py.stderr)![1]!;
    expect(py.stderr).toMatch(/SUCCEEDED/);
    expect(py.stdout).toMatch(/\nmine\s+\d\.\d{5}/);
    const got = await python(['get', pyJobId], env);
    expect(got.code).toBe(0);
    const record = JSON.parse(got.stdout);
    expect(record).toMatchObject({ jobId: pyJobId, state: 'JOB_STATE_SUCCEEDED', labels: { client: 'python' } });
    expect(Object.keys(record.result.pipeline.metrics.methods).sort()).toEqual(['ga-0.05', 'mine', 'original']);
    // The same config gives the same study, whichever client submitted it.
    if (tsJobId) {
      const [a, b] = await Promise.all([client.jobs.get(tsJobId), client.jobs.get(pyJobId)]);
      const metrics = (j: v1.Job) => (j.result?.kind?.$case === 'pipeline' ? j.result.kind.value.metrics : undefined);
      expect(comparable(metrics(b))).toEqual(comparable(metrics(a)));
    }
  });

  it('moves artifacts through the orchestrator with both clients', async () => {
    const file = join(dir, 'x_train.npy');
    const data = Buffer.alloc(2 * 1024 * 1024 + 99);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    await writeFile(file, data);
    const sha = createHash('sha256').update(data).digest('hex');
    const up = await client.artifacts.putFile(file);
    expect(up.ref).toMatchObject({ sha256: sha, sizeBytes: data.length, mediaType: 'application/x-npy' });
    expect((await client.artifacts.stat(sha)).ref?.sizeBytes).toBe(data.length);
    if (pythonClientAvailable) {
      const back = join(dir, 'py.npy');
      expect((await python(['download', sha, back], env)).code).toBe(0);
      expect((await readFile(back)).equals(data)).toBe(true);
      const again = await python(['upload', file], env);
      expect(again.stdout.trim()).toBe(sha);
      expect(again.stderr).toMatch(/^already stored/);
    }
    expect((await client.artifacts.get(sha)).equals(data)).toBe(true);
  });
});
