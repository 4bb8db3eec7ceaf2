/**
 * The one place that chooses a tfjs backend.
 *
 * Order for `auto`: tensorflow (libtensorflow through @tensorflow/tfjs-node-gpu,
 * else @tensorflow/tfjs-node; optional peers present only in the container
 * images) → webgpu (@tensorflow/tfjs-backend-webgpu on Dawn, the optional
 * package `webgpu`; only when the adapter is a hardware GPU, never a software
 * fallback such as lavapipe) → wasm (@tensorflow/tfjs-backend-wasm, SIMD, with
 * the gradient kernels it lacks registered by us) → cpu. `UAE_BACKEND` overrides; an
 * explicit choice that cannot be honoured is a start-up error, never a silent
 * fallback.
 */
import { createRequire } from 'node:module';
import util from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
// The umbrella's node bundle is the only CommonJS build that registers the
// gradient functions (tfjs-core's node bundle ships none); it also loads layers.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerUaeKernels } from './kernels/register.js';
import { loadTfjsWebgpu, noAdapterReason, requestWebgpuAdapter, takeDeviceErrors, vulkanDriverOffered, watchDeviceErrors, type WebgpuAdapter } from './webgpu.js';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendChoice = 'auto' | BackendName;

export interface BackendInfo {
  /** tfjs backend name. */
  name: BackendName;
  /** What provides it: tfjs-node-gpu, tfjs-node, dawn, wasm-simd, wasm, cpu. */
  provider: string;
  /** True when libtensorflow reports a visible CUDA device, or webgpu runs on a hardware adapter. */
  gpu: boolean;
  /** webgpu only: the adapter tfjs runs on. */
  adapter?: WebgpuAdapter;
  /**
   * How many samples' per-sample weights (MINE, δ) one stacked computation
   * should carry. A GPU wants many (one batched matMul); wasm is single-threaded
   * per instance with a 4 GiB heap, so a few; parallelism there comes from
   * worker threads, one backend instance each.
   */
  preferredChunk: number;
  /** Worker threads that make sense for sample-parallel work on this backend. */
  preferredWorkers: number;
  /**
   * webgpu only: the most bytes one tensor may hold, as one buffer bound to a
   * shader (the adapter's maxStorageBufferBindingSize, within maxBufferSize).
   * A larger one fails validation and the command is dropped, so stacked
   * chunks are sized below it (libs/attack/engine.ts).
   */
  maxBindingBytes?: number;
}

export class BackendUnavailableError extends Error {
  constructor(choice: string, reason: string) {
    super(`UAE_BACKEND=${choice} is not available: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

let active: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase() || 'auto';
  if (v === 'auto' || (BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(
    `UAE_BACKEND must be one of auto, ${BACKEND_NAMES.join(', ')}; got "${value}"`,
  );
}

/** Dynamic import that TypeScript does not try to resolve (optional peers). */
async function importOptional(specifier: string): Promise<unknown> {
  return import(specifier);
}

async function tryTensorflow(): Promise<{ provider: string } | { error: string }> {
  // @tensorflow/tfjs-node(-gpu) 4.22.0, the peer version, calls util.isNullOrUndefined,
  // which Node 23 removed: it loads, then every op throws. Refuse it up front.
  if (typeof (util as { isNullOrUndefined?: unknown }).isNullOrUndefined !== 'function') {
    return { error: `@tensorflow/tfjs-node 4.22 needs util.isNullOrUndefined, which Node ${process.versions.node} no longer has (removed in Node 23); run the tensorflow backend on Node 22` };
  }
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await importOptional(pkg);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    if (!tf.findBackendFactory('tensorflow')) {
      return {
        error:
          `${pkg} loaded but registered its backend on another copy of ` +
          `@tensorflow/tfjs-core; install ${pkg} at the same version as @tensorflow/tfjs-core (${tf.version_core})`,
      };
    }
    return { provider: pkg.replace('@tensorflow/', '') };
  }
  return { error: errors.join('; ') };
}

type WebgpuProbe = { adapter: WebgpuAdapter } | { error: string };

async function tryWebgpu(): Promise<WebgpuProbe> {
  try {
    const adapter = await requestWebgpuAdapter();
    return adapter ? { adapter } : { error: noAdapterReason() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function activateWebgpu(adapter: WebgpuAdapter): Promise<BackendInfo> {
  await loadTfjsWebgpu((flag, value) => tf.env().set(flag, value));
  if (!tf.findBackendFactory('webgpu')) {
    throw new BackendUnavailableError('webgpu', `@tensorflow/tfjs-backend-webgpu registered no backend on this copy of @tensorflow/tfjs-core (${tf.version_core}); install it at the same version`);
  }
  const info = await activate('webgpu', 'dawn');
  const device = (tf.backend() as unknown as { device?: Parameters<typeof watchDeviceErrors>[0] }).device;
  if (device) watchDeviceErrors(device);
  const gpu = !adapter.software;
  return {
    ...info,
    gpu,
    adapter,
    // Unmeasured on a hardware GPU (issue 13's device bench): one batched
    // computation per chunk, as for libtensorflow on CUDA. Software adapters
    // run one sample per chunk like wasm.
    preferredChunk: gpu ? 64 : 1,
    // One device per process: worker threads would each open their own.
    preferredWorkers: 1,
    maxBindingBytes: Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize),
  };
}

async function activate(name: BackendName, provider: string): Promise<BackendInfo> {
  // The cpu backend prints an "install tfjs-node" banner on first use; when cpu
  // was chosen (explicitly or as the last resort) the choice is already logged
  // by callers, so run in tfjs' production mode, which silences it.
  if (name === 'cpu') tf.enableProdMode();
  const before = processListeners();
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendUnavailableError(name, `tf.setBackend('${name}') failed`);
  await tf.ready();
  removeAddedListeners(before);
  registerUaeKernels(name);
  const cores = await availableCores();
  let gpu = false;
  if (name === 'tensorflow') gpu = await tensorflowSeesGpu();
  if (name === 'wasm' && tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) provider = 'wasm-simd';
  return {
    name,
    provider,
    gpu,
    // wasm: one sample per chunk measured ~6% faster than stacks of 2–4 (smaller
    // working set; XNNPACK runs per sample slice anyway).
    preferredChunk: gpu ? 64 : name === 'tensorflow' ? 8 : 1,
    // libtensorflow and a GPU use the cores themselves; wasm and cpu are one
    // thread per instance, so one worker per core.
    preferredWorkers: name === 'tensorflow' ? 1 : cores,
  };
}

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];

function processListeners(): Map<ProcessEvent, Set<unknown>> {
  const listeners = (e: ProcessEvent): unknown[] => process.listeners(e as 'uncaughtException');
  return new Map(PROCESS_EVENTS.map((e) => [e, new Set(listeners(e))]));
}

/**
 * The wasm backend's Emscripten loader installs process-wide handlers that
 * rethrow every uncaught error from inside its minified bundle, so Node prints
 * a 30 kB source line instead of the error. They only serve Emscripten's
 * exit(), which tfjs never calls: remove them.
 */
function removeAddedListeners(before: Map<ProcessEvent, Set<unknown>>): void {
  for (const event of PROCESS_EVENTS) {
    for (const listener of process.listeners(event as 'uncaughtException')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
}

/** Whether the optional package is there at all (auto loads dawn.node only then). */
function webgpuInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
}

async function availableCores(): Promise<number> {
  const os = await import('node:os');
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

async function tensorflowSeesGpu(): Promise<boolean> {
  // tfjs-node-gpu places ops on /GPU:0 when libtensorflow found CUDA; the
  // backend exposes no public flag, so ask the binding when it is there.
  const backend = tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } };
  try {
    return backend.binding?.isUsingGpuDevice?.() ?? false;
  } catch {
    return false;
  }
}

async function choose(choice: BackendChoice): Promise<BackendInfo> {
  if (choice === 'tensorflow' || choice === 'auto') {
    const r = await tryTensorflow();
    if ('provider' in r) return activate('tensorflow', r.provider);
    if (choice === 'tensorflow') throw new BackendUnavailableError('tensorflow', r.error);
  }
  if (choice === 'webgpu') {
    const r = await tryWebgpu();
    if ('error' in r) throw new BackendUnavailableError('webgpu', r.error);
    return activateWebgpu(r.adapter);
  }
  // auto: a software adapter (lavapipe) is far slower than wasm; only a GPU counts.
  if (choice === 'auto' && webgpuInstalled() && vulkanDriverOffered()) {
    const r = await tryWebgpu();
    if ('adapter' in r && !r.adapter.software) return activateWebgpu(r.adapter);
  }
  if (choice === 'wasm' || choice === 'auto') {
    try {
      return await activate('wasm', 'wasm');
    } catch (e) {
      if (choice === 'wasm') throw new BackendUnavailableError('wasm', (e as Error).message);
    }
  }
  return activate('cpu', 'cpu');
}

/**
 * Initialise the backend once per thread. Later calls return the same info;
 * asking for a different explicit backend after initialisation is an error.
 */
export async function initBackend(
  choice: BackendChoice = parseBackendChoice(process.env.UAE_BACKEND),
): Promise<BackendInfo> {
  if (active) {
    if (choice !== 'auto' && choice !== active.name) {
      throw new Error(`backend already initialised as ${active.name}; cannot switch to ${choice}`);
    }
    return active;
  }
  pending ??= choose(choice).then((info) => (active = info)).finally(() => (pending = undefined));
  return pending;
}

/** The active backend; throws when initBackend() has not completed. */
export function backendInfo(): BackendInfo {
  if (!active) throw new Error('tensor backend not initialised: await initBackend() first');
  return active;
}

/**
 * Switch this thread's backend (benchmarks and tests that compare backends).
 * Tensors made on the previous backend move lazily when next read.
 */
export async function switchBackend(choice: BackendChoice): Promise<BackendInfo> {
  active = undefined;
  return initBackend(choice);
}

/**
 * True for an error that means the backend itself is broken, not the input:
 * a WebAssembly trap (RuntimeError: "memory access out of bounds", "table
 * index is out of bounds", "unreachable", …) or an emscripten abort
 * ("Aborted(…)"). After one, the wasm instance may be corrupt for the rest of
 * the process (issue 10: every later job failed with "Aborted()"), so a
 * service marks itself NOT_SERVING and restarts (services/common/service.ts).
 */
export function isBackendFault(err: unknown): boolean {
  if (err instanceof BackendFaultError) return true;
  const wasm = (globalThis as { WebAssembly?: { RuntimeError: new () => Error } }).WebAssembly;
  if (wasm && err instanceof wasm.RuntimeError) return true;
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  return name === 'RuntimeError' || name === 'BackendFaultError' || /(^|\W)Aborted\(/.test(message);
}

/**
 * A backend fault reported from elsewhere (an attack worker thread whose wasm
 * instance trapped, libs/attack/parallel.ts): the RuntimeError itself cannot
 * cross the thread boundary, so this carries its message; isBackendFault is
 * true for it.
 */
export class BackendFaultError extends Error {
  override name = 'BackendFaultError';
}

/**
 * Throws BackendFaultError when the device reported errors since the last
 * check (webgpu: validation errors, a lost device). Dawn drops a rejected
 * command and reads then return zeros without an exception, so whoever reads
 * results calls this after the read: a result computed with an error is
 * never returned as if it were right. No-op on the other backends.
 */
export function throwIfDeviceFaulted(): void {
  if (active?.name !== 'webgpu') return;
  const errors = takeDeviceErrors();
  if (errors.length === 0) return;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  throw new BackendFaultError(`webgpu: the device rejected work, so these results are invalid: ${errors[0]}${more}`);
}

/**
 * A real WebAssembly trap in the wasm backend (an out-of-bounds free inside
 * its module), for fault drills: it throws the RuntimeError the backend
 * would. Only on the wasm backend.
 */
export function triggerBackendTrap(): never {
  const b = tf.backend() as unknown as { wasm?: { _free?: (ptr: number) => void } };
  if (tf.getBackend() !== 'wasm' || typeof b.wasm?._free !== 'function') {
    throw new Error(`triggerBackendTrap needs the wasm backend (this is ${tf.getBackend()})`);
  }
  b.wasm._free(0x7fffffff);
  throw new Error('the wasm backend did not trap');
}
