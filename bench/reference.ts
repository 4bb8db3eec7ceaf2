/**
 * `npm run bench -- --reference`: the PyTorch port of the reference attack
 * (../shared/reference/uae_reference.py, read-only; its README says how to run
 * it) at the bench's settings, so the ratio comes from one run on one machine.
 *
 * Python: UAE_REF_PYTHON or /usr/bin/python3 (Debian's python3-torch). BLAS:
 * the OpenMP OpenBLAS when installed (the pthread build fights torch's OpenMP
 * pool at 2 threads, says the reference's README). Data: UAE_REF_DATA_DIR, else
 * ../shared/datasets/fashion-mnist. Its conv AE is trained once into the
 * ignored ref/ folder (2000 images, 1 epoch, as the README) and reused.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export interface ReferenceRun {
  command: string;
  seconds_per_sample: number;
  samples: number;
  threads: number;
  iterations: number;
  mine_steps: number;
  /** The reference's own estimate of other processes' CPU use while it ran. */
  other_procs_cpus_busy_mean: number | null;
}

const OPENBLAS_OPENMP = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

export async function runReference(
  script: string,
  s: { samples: number; iterations: number; mineSteps: number; threads: number },
): Promise<ReferenceRun> {
  const python = process.env.UAE_REF_PYTHON ?? '/usr/bin/python3';
  const dataDir = process.env.UAE_REF_DATA_DIR ?? resolve('../shared/datasets/fashion-mnist');
  const env: NodeJS.ProcessEnv = { ...process.env, UAE_REF_DATA_DIR: dataDir };
  if (existsSync(OPENBLAS_OPENMP)) env.LD_LIBRARY_PATH = [OPENBLAS_OPENMP, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  await mkdir('ref', { recursive: true });
  const model = 'ref/convAE.pt';
  const threads = String(s.threads);
  if (!existsSync(model)) {
    await run(python, [script, 'train', '--ae', 'conv', '--threads', threads, '--n-train', '2000', '--epochs', '1', '--model', model, '--out', 'ref/train.json'], env);
  }
  const args = [
    script, 'attack', '--ae', 'conv', '--mine', 'conv', '--threads', threads, '--n-samples', String(s.samples),
    '--max-iterations', String(s.iterations), '--mine-steps', String(s.mineSteps), '--model', model, '--out', 'ref/attack.json',
  ];
  await run(python, args, env);
  const out = JSON.parse(await readFile('ref/attack.json', 'utf8')) as { summary: { sec_per_sample_mean: number; n_samples: number; other_procs_cpus_busy_mean: number | null } };
  return {
    command: `${python} ${args.join(' ')}`,
    seconds_per_sample: out.summary.sec_per_sample_mean,
    samples: out.summary.n_samples,
    threads: s.threads,
    iterations: s.iterations,
    mine_steps: s.mineSteps,
    other_procs_cpus_busy_mean: out.summary.other_procs_cpus_busy_mean ?? null,
  };
}
