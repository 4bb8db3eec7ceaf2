/**
 * The uae package's root directory and identity, found from this file's
 * location by walking up to the first package.json, so the TypeScript sources
 * (tsx, vitest) and a compiled dist/ (the images: /app/dist, /app/package.json)
 * agree on both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding uae's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

/** The tool that wrote an output: package name and version. */
export interface ToolInfo {
  name: string;
  version: string;
}

let cached: ToolInfo | undefined;

/** uae's name and version from its package.json (read once). */
export function toolInfo(): ToolInfo {
  if (cached) return cached;
  const path = join(packageRoot(), 'package.json');
  const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown };
  if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') throw new Error(`${path}: no name or version`);
  cached = { name: pkg.name, version: pkg.version };
  return cached;
}
