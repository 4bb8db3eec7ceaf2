import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import util, { promisify } from 'node:util';
import { parseBackendChoice } from '../../libs/tensor/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

/** Starts a fresh process (the backend is chosen once per thread) and prints its choice. */
async function probe(env: Record<string, string>, after = '') {
  const script = `import { initBackend } from './libs/tensor/index.js'; const i = await initBackend(); console.log(JSON.stringify(i)); ${after}`;
  return run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env: { ...process.env, ...env } });
}

describe('backend switch', () => {
  it('parses UAE_BACKEND and names the allowed values on a typo', () => {
    expect(parseBackendChoice(undefined)).toBe('auto');
    expect(parseBackendChoice(' WASM ')).toBe('wasm');
    expect(parseBackendChoice('WebGPU')).toBe('webgpu');
    expect(() => parseBackendChoice('gpu')).toThrow(/auto, tensorflow, wasm, cpu, webgpu.*"gpu"/);
  });

  it('auto falls back to wasm here (no libtensorflow) and reports it', async () => {
    const { stdout } = await probe({ UAE_BACKEND: 'auto' });
    const info = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(info.name).toBe('wasm');
    expect(info.preferredWorkers).toBeGreaterThanOrEqual(1);
  });

  it('leaves uncaught errors readable after loading wasm (no 30 kB bundle line)', async () => {
    const failure = await probe({ UAE_BACKEND: 'wasm' }, "setTimeout(() => { throw new Error('boom from user code'); });").catch((e) => e);
    expect(failure.stderr).toContain('boom from user code');
    expect(failure.stderr.length).toBeLessThan(3000);
  });

  it('an explicit choice that is unavailable is a clear start-up error', async () => {
    // Node ≥ 23 removed util.isNullOrUndefined, which tfjs-node 4.22 calls: refused before any import.
    const reason = typeof (util as { isNullOrUndefined?: unknown }).isNullOrUndefined === 'function'
      ? /UAE_BACKEND=tensorflow is not available: @tensorflow\/tfjs-node-gpu/
      : /UAE_BACKEND=tensorflow is not available: @tensorflow\/tfjs-node 4\.22 needs util\.isNullOrUndefined, which Node \d+\.\d+\.\d+ no longer has \(removed in Node 23\); run the tensorflow backend on Node 22/;
    await expect(probe({ UAE_BACKEND: 'tensorflow' })).rejects.toMatchObject({ stderr: expect.stringMatching(reason) });
  });

  it('webgpu without a Vulkan adapter is a start-up error naming VK_ICD_FILENAMES and the setup', async () => {
    // A driver manifest that does not exist: the Vulkan loader offers no adapter on any machine.
    const icd = '/nonexistent/uae-no-driver.json';
    await expect(probe({ UAE_BACKEND: 'webgpu', VK_ICD_FILENAMES: icd })).rejects.toMatchObject({
      stderr: expect.stringMatching(new RegExp(`UAE_BACKEND=webgpu is not available: Dawn found no Vulkan adapter with VK_ICD_FILENAMES=${icd}.*npm run setup:webgpu`)),
    });
  });
});
