/**
 * WebGPU through Dawn (the optional npm package `webgpu`, dawn.node): finds an
 * adapter and describes it. backend.ts decides whether tfjs runs on it.
 *
 * dawn.node links only libc/libstdc++ and dlopens the Vulkan loader
 * (libvulkan.so.1) at run time; with no GPU driver, Mesa's lavapipe (a CPU
 * Vulkan driver, `npm run setup:webgpu`) serves as one. Dawn needs Mesa ≥ 25
 * there: older lavapipe lacks two *ArrayDynamicIndexing features and
 * requestAdapter() answers null without an error.
 */
import { readdirSync } from 'node:fs';

/** What the backend reports about the adapter tfjs runs on. */
export interface WebgpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn's own flag for a software (CPU) adapter. */
  isFallbackAdapter: boolean;
  /** A CPU implementation (fallback flag, or a "software"/"cpu" architecture): never chosen by auto. */
  software: boolean;
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
  };
  /** VK_ICD_FILENAMES as this process saw it (which Vulkan driver was offered). */
  vulkanIcd?: string;
}

interface GpuAdapterLike {
  info?: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  limits: Record<string, number>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** Where the setup script puts lavapipe and its environment (git-ignored). */
export const LAVAPIPE_ENV_HINT =
  'run `npm run setup:webgpu`, then `. .cache/lavapipe/env.sh` (it sets VK_ICD_FILENAMES and LD_LIBRARY_PATH) before starting node';

let gpu: GpuLike | undefined;

/** Dynamic import that TypeScript does not try to resolve (optional dependency). */
async function importOptional(specifier: string): Promise<unknown> {
  return import(specifier);
}

/**
 * Loads dawn.node once and installs navigator.gpu and the GPU* constants as
 * globals, which @tensorflow/tfjs-backend-webgpu looks for when it is
 * imported (it registers itself only if navigator.gpu exists then).
 */
export async function installNavigatorGpu(): Promise<GpuLike> {
  if (gpu) return gpu;
  let dawn: DawnModule;
  try {
    dawn = (await importOptional('webgpu')) as DawnModule;
  } catch (e) {
    throw new Error(`the optional package "webgpu" (dawn.node) is not installed or does not load: ${(e as Error).message.split('\n')[0]}; npm ci installs it on linux-x64`);
  }
  gpu = dawn.create([]);
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as { navigator?: Record<string, unknown> };
  // Node ≥ 21 has a navigator global of its own; Node 20 has none.
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else g.navigator = { gpu };
  return gpu;
}

interface GpuDeviceLike {
  onuncapturederror: ((ev: { error?: { message?: string } }) => void) | null;
  lost?: Promise<{ reason?: string; message?: string }>;
}

let deviceErrors: string[] = [];

/**
 * Collects what the device reports on its own: a validation error (a buffer
 * over maxStorageBufferBindingSize, say) makes Dawn drop the command, and
 * reads then return zeros with no exception; a lost device fails everything
 * after it. takeDeviceErrors() hands them to whoever checks (backend.ts).
 */
export function watchDeviceErrors(device: GpuDeviceLike): void {
  device.onuncapturederror = (ev) => {
    deviceErrors.push(ev.error?.message?.split('\n')[0] ?? 'an uncaptured WebGPU error');
  };
  void device.lost?.then((info) => deviceErrors.push(`device lost (${info.reason ?? 'unknown'}): ${info.message ?? ''}`));
}

/** The errors reported since the last call, oldest first. */
export function takeDeviceErrors(): string[] {
  const errors = deviceErrors;
  deviceErrors = [];
  return errors;
}

/** The adapter tfjs-backend-webgpu will get (same request), or null when Vulkan offers none. */
export async function requestWebgpuAdapter(): Promise<WebgpuAdapter | null> {
  const g = await installNavigatorGpu();
  const adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const str = (k: string) => (typeof info[k] === 'string' ? (info[k] as string) : '');
  const isFallbackAdapter = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false);
  const architecture = str('architecture');
  const l = adapter.limits;
  return {
    vendor: str('vendor'),
    architecture,
    device: str('device'),
    description: str('description'),
    isFallbackAdapter,
    software: isFallbackAdapter || /software|cpu/i.test(architecture),
    limits: {
      maxBufferSize: l.maxBufferSize!,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize!,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize!,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup!,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension!,
    },
    ...(process.env.VK_ICD_FILENAMES ? { vulkanIcd: process.env.VK_ICD_FILENAMES } : {}),
  };
}

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/**
 * Whether any Vulkan driver is offered to the loader (an ICD manifest named by
 * VK_ICD_FILENAMES / VK_DRIVER_FILES or installed in the loader's standard
 * folders). `auto` probes Dawn only then: on a machine without one, loading
 * dawn.node would only print Dawn's "Couldn't load Vulkan" warning.
 */
export function vulkanDriverOffered(): boolean {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  return ICD_DIRS.some((dir) => {
    try {
      return readdirSync(dir).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

/** Why no adapter was found, naming what to set. */
export function noAdapterReason(): string {
  const icd = process.env.VK_ICD_FILENAMES;
  return icd
    ? `Dawn found no Vulkan adapter with VK_ICD_FILENAMES=${icd} (lavapipe must be Mesa ≥ 25; LD_LIBRARY_PATH must reach libvulkan.so.1 and the driver's libraries); ${LAVAPIPE_ENV_HINT}`
    : `Dawn found no Vulkan adapter (no GPU driver, or libvulkan.so.1 missing; VK_ICD_FILENAMES is unset); ${LAVAPIPE_ENV_HINT}`;
}

/** Imports the tfjs webgpu backend after navigator.gpu exists, and keeps every op on the GPU. */
export async function loadTfjsWebgpu(setFlag: (name: string, value: boolean) => void): Promise<void> {
  await installNavigatorGpu();
  try {
    await importOptional('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    throw new Error(`the optional package "@tensorflow/tfjs-backend-webgpu" is not installed or does not load: ${(e as Error).message.split('\n')[0]}`);
  }
  // Otherwise small ops silently run on the cpu backend (data moved back and
  // forth): a test on webgpu would then test cpu.
  setFlag('WEBGPU_CPU_FORWARD', false);
}
