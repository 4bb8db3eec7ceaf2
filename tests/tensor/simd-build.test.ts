import { describe, expect, it } from 'vitest';
import { assemble, moduleSource, WASM_KERNELS } from '../../scripts/build-wasm.js';
import { readFile } from 'node:fs/promises';

describe('hand-written WebAssembly kernels', () => {
  it.each(WASM_KERNELS)('%s.wasm.ts is the assembly of %s.wat (run npm run build:wasm)', async (name) => {
    const committed = await readFile(new URL(`../../libs/tensor/simd/${name}.wasm.ts`, import.meta.url), 'utf8');
    expect(committed).toBe(moduleSource(name, await assemble(name)));
  });
});
