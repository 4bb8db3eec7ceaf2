/**
 * Spawns a worker thread on a module given relative to a caller's URL:
 * compiled .js directly, TypeScript sources (tsx, vitest) through a small
 * bootstrap that registers tsx in the worker.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function spawnModuleWorker(callerUrl: string, relativeModule: string, options: WorkerOptions = {}): Worker {
  const caller = new URL(callerUrl);
  if (caller.pathname.endsWith('.ts')) {
    const entry = new URL(`${relativeModule}.ts`, caller).href;
    return new Worker(new URL('./ts-worker-bootstrap.mjs', import.meta.url), {
      ...options,
      workerData: { ...(options.workerData as object | undefined), __uaeEntry: entry },
    });
  }
  return new Worker(new URL(`${relativeModule}.js`, caller), options);
}
