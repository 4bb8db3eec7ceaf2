/**
 * libs/tensor: the tfjs namespace every other module uses, the backend switch,
 * deterministic random numbers and small tensor utilities. Nothing outside this
 * folder names a backend.
 */
export * as tf from '@tensorflow/tfjs-core';
export {
  initBackend,
  switchBackend,
  backendInfo,
  parseBackendChoice,
  BackendUnavailableError,
  BACKEND_NAMES,
  isBackendFault,
  BackendFaultError,
  triggerBackendTrap,
  throwIfDeviceFaulted,
  type BackendInfo,
  type BackendName,
  type BackendChoice,
} from './backend.js';
export { requestWebgpuAdapter, LAVAPIPE_ENV_HINT, type WebgpuAdapter } from './webgpu.js';
export { fusedDenseStep, fusedDenseStepAvailable, setFusedDenseStep } from './fused-dense.js';
