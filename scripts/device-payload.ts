/**
 * What the device benchmark needs of `npm ci --omit=dev`, and nothing else:
 * the rules that prune a production node_modules for one platform, and the
 * sizes the payload is checked against.
 *
 * Why prune by rules and not trace what one run opens: a trace only sees the
 * code paths one backend took on one machine; the rules keep every file a
 * package can load on linux-x64 and drop what Node never loads there — the
 * other platforms' dawn.node builds (≈ 110 MB), tfjs' browser bundles,
 * per-file ES module trees and TypeScript sources (Node loads each tfjs
 * package's CommonJS "main" bundle: none has an "exports" map), source maps,
 * type declarations and docs.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** What the lent GPU hosts take along: the working tree and the prepared files together. */
export const DEVICE_PAYLOAD_LIMIT_BYTES = 64 * 2 ** 20;

/** Licence files stay, whatever their extension: the packages are redistributed with the payload. */
const LICENCE = /(^|\/)LICEN[CS]E[^/]*$/i;

/** Files Node never loads at run time, in any package (licences aside). */
const NEVER_LOADED = [/\.map$/, /\.d\.[cm]?ts$/, /\.tsbuildinfo$/, /(^|\/)(README|CHANGELOG|HISTORY)(\.[a-z]+)?$/i, /\.(md|markdown)$/i];

export interface PruneReport {
  keptBytes: number;
  removedBytes: number;
  removedFiles: number;
}

function walk(dir: string, visit: (path: string) => void): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) walk(path, visit);
    else visit(path);
  }
}

export function treeBytes(dir: string): number {
  let bytes = 0;
  walk(dir, (p) => (bytes += lstatSync(p).size));
  return bytes;
}

/** Files of a tfjs package Node loads: package.json, licences, the CommonJS "main" bundle and the wasm binaries beside it. */
function tfjsKeeps(pkgDir: string): (rel: string) => boolean {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { main?: string; exports?: unknown };
  if (pkg.exports !== undefined || !pkg.main) return () => true; // a layout these rules do not know: keep it whole
  const main = pkg.main.replace(/^\.\//, '');
  return (rel) => rel === 'package.json' || /^LICEN[CS]E/i.test(rel) || rel === main || /^dist\/[^/]+\.wasm$/.test(rel);
}

/** dawn.node's package: its loader and the one platform's build. */
function webgpuKeeps(platform: string): (rel: string) => boolean {
  return (rel) => rel === 'package.json' || rel === 'index.js' || /^LICEN[CS]E/i.test(rel) || rel.startsWith(`dist/${platform}/`);
}

function packageDirs(nodeModules: string): string[] {
  const dirs: string[] = [];
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const path = join(nodeModules, name);
    if (!statSync(path).isDirectory()) continue;
    if (name.startsWith('@')) dirs.push(...readdirSync(path).map((n) => join(path, n)).filter((p) => statSync(p).isDirectory()));
    else dirs.push(path);
  }
  return dirs;
}

/**
 * Prunes a production node_modules in place for `platform` (`${process.platform}-${process.arch}`,
 * as dawn.node's loader names its folders).
 */
export function pruneNodeModules(nodeModules: string, platform = `${process.platform}-${process.arch}`): PruneReport {
  if (!existsSync(nodeModules)) throw new Error(`${nodeModules}: no such folder`);
  const report: PruneReport = { keptBytes: 0, removedBytes: 0, removedFiles: 0 };
  for (const dir of packageDirs(nodeModules)) {
    const name = relative(nodeModules, dir).split(sep).join('/');
    const keep = name.startsWith('@tensorflow/') && existsSync(join(dir, 'package.json')) ? tfjsKeeps(dir) : name === 'webgpu' ? webgpuKeeps(platform) : () => true;
    walk(dir, (path) => {
      const rel = relative(dir, path).split(sep).join('/');
      const size = lstatSync(path).size;
      // Nested node_modules hold packages of their own; the generic rules still apply to them.
      const nested = rel.includes('node_modules/');
      if ((!nested && !keep(rel)) || (!LICENCE.test(rel) && NEVER_LOADED.some((re) => re.test(rel)))) {
        rmSync(path);
        report.removedBytes += size;
        report.removedFiles += 1;
      } else {
        report.keptBytes += size;
      }
    });
  }
  removeEmptyDirs(nodeModules);
  return report;
}

function removeEmptyDirs(dir: string): boolean {
  let empty = true;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory() && removeEmptyDirs(path)) continue;
    empty = false;
  }
  if (empty) rmSync(dir, { recursive: true });
  return empty;
}
