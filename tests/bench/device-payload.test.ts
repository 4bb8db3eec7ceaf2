/**
 * The device payload's pruning rules (scripts/device-payload.ts) on a small
 * node_modules laid out like the real one: what Node loads on linux-x64 stays,
 * the rest goes, and the report adds up.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneNodeModules, treeBytes } from '../../scripts/device-payload.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function layout(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'uae-payload-'));
  const nm = join(dir, 'node_modules');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(nm, path)), { recursive: true });
    writeFileSync(join(nm, path), text);
  }
  return nm;
}

const KEPT = [
  '@tensorflow/tfjs-core/package.json',
  '@tensorflow/tfjs-core/LICENSE',
  '@tensorflow/tfjs-core/dist/tf-core.node.js',
  '@tensorflow/tfjs-backend-wasm/package.json',
  '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js',
  '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
  '@tensorflow/tfjs-exports/package.json',
  '@tensorflow/tfjs-exports/dist/any.js',
  'webgpu/package.json',
  'webgpu/index.js',
  'webgpu/LICENSE.md',
  'webgpu/dist/linux-x64/dawn.node',
  'zod/package.json',
  'zod/lib/index.js',
  'zod/node_modules/inner/index.js',
];
const REMOVED = [
  '@tensorflow/tfjs-core/dist/index.js',
  '@tensorflow/tfjs-core/dist/ops/add.js',
  '@tensorflow/tfjs-core/dist/tf-core.min.js',
  '@tensorflow/tfjs-core/src/index.ts',
  '@tensorflow/tfjs-backend-wasm/dist/kernels/Add.js',
  '@tensorflow/tfjs-exports/dist/any.js.map',
  'webgpu/dist/win32-x64/dawn.node',
  'webgpu/dist/darwin-universal/dawn.node',
  'webgpu/build/build.js',
  'webgpu/types.d.ts',
  'webgpu/README.md',
  'zod/lib/index.js.map',
  'zod/lib/index.d.ts',
  'zod/README.md',
  'zod/node_modules/inner/index.d.cts',
];

describe('pruneNodeModules', () => {
  it('keeps what Node loads on linux-x64 and removes the rest', () => {
    const files: Record<string, string> = {};
    for (const f of [...KEPT, ...REMOVED]) files[f] = `// ${f}\n`;
    files['@tensorflow/tfjs-core/package.json'] = JSON.stringify({ main: 'dist/tf-core.node.js', module: 'dist/index.js' });
    files['@tensorflow/tfjs-backend-wasm/package.json'] = JSON.stringify({ main: './dist/tf-backend-wasm.node.js' });
    // A package with an "exports" map: a layout the rules do not know, kept whole (less maps and declarations).
    files['@tensorflow/tfjs-exports/package.json'] = JSON.stringify({ main: 'dist/any.js', exports: { '.': './dist/any.js' } });
    const nm = layout(files);
    const before = treeBytes(nm);
    const report = pruneNodeModules(nm, 'linux-x64');
    for (const f of KEPT) expect(existsSync(join(nm, f)), `kept ${f}`).toBe(true);
    for (const f of REMOVED) expect(existsSync(join(nm, f)), `removed ${f}`).toBe(false);
    expect(report.removedFiles).toBe(REMOVED.length);
    expect(report.keptBytes + report.removedBytes).toBe(before);
    expect(treeBytes(nm)).toBe(report.keptBytes);
    // Emptied folders go too.
    expect(existsSync(join(nm, 'webgpu/dist/win32-x64'))).toBe(false);
    expect(existsSync(join(nm, '@tensorflow/tfjs-core/src'))).toBe(false);
  });

  it('keeps the other platform when asked for it', () => {
    const nm = layout({ 'webgpu/package.json': '{}', 'webgpu/index.js': '', 'webgpu/dist/linux-x64/dawn.node': 'a', 'webgpu/dist/linux-arm64/dawn.node': 'b' });
    pruneNodeModules(nm, 'linux-arm64');
    expect(existsSync(join(nm, 'webgpu/dist/linux-arm64/dawn.node'))).toBe(true);
    expect(existsSync(join(nm, 'webgpu/dist/linux-x64/dawn.node'))).toBe(false);
  });

  it('names the folder it cannot find', () => {
    expect(() => pruneNodeModules('/nonexistent/node_modules')).toThrow(/\/nonexistent\/node_modules: no such folder/);
  });
});
