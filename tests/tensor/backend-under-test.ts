/**
 * The backend a backend-parameterised spec file runs on: wasm, or webgpu when
 * the run asks for it with UAE_BACKEND=webgpu (after `npm run setup:webgpu`
 * and `. .cache/lavapipe/env.sh`, or on a machine with a Vulkan GPU). Any
 * other UAE_BACKEND leaves these files on wasm, so the normal suite keeps its
 * known answers.
 *
 * Initialised at import (collection time) so a file can skip whole describes
 * when webgpu was asked for but cannot run, with the reason in their title.
 */
import { BackendUnavailableError, initBackend, type BackendInfo } from '../../libs/tensor/index.js';

export type TestBackend = 'wasm' | 'webgpu';

export const TEST_BACKEND: TestBackend = process.env.UAE_BACKEND?.trim().toLowerCase() === 'webgpu' ? 'webgpu' : 'wasm';
export const ON_WEBGPU = TEST_BACKEND === 'webgpu';

async function init(): Promise<{ info?: BackendInfo; skip?: string }> {
  try {
    return { info: await initBackend(TEST_BACKEND) };
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    const skip = e.message;
    console.warn(`skipping webgpu specs: ${skip}`);
    return { skip };
  }
}

const state = await init();

/** Why this file's specs cannot run on the backend asked for (undefined: they run). */
export const SKIP_REASON: string | undefined = state.skip;

/** A describe title that says which backend runs it, or why it is skipped. */
export function onBackend(title: string): string {
  return SKIP_REASON ? `${title} [${TEST_BACKEND}: skipped — ${SKIP_REASON}]` : `${title} [${TEST_BACKEND}]`;
}
