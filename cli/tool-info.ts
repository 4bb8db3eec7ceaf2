/** What a run records about the tool that made it: package name and version, and the git commit when the sources are a checkout. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ToolInfo {
  name: string;
  version: string;
  /** HEAD of the checkout the tool runs from (with "-dirty" when it has uncommitted changes); absent outside one. */
  commit?: string;
}

let cached: ToolInfo | undefined;

/** The package root: the nearest folder above this module with the package.json of `uae` (cli/ in a checkout, dist/cli/ in a build). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'uae') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('the package.json of uae was not found above the CLI');
    dir = up;
  }
}

function gitCommit(root: string): string | undefined {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`;
  } catch {
    return undefined;
  }
}

export function toolInfo(): ToolInfo {
  if (cached) return cached;
  const root = packageRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  const commit = existsSync(join(root, '.git')) ? gitCommit(root) : undefined;
  cached = { name: pkg.name, version: pkg.version, ...(commit ? { commit } : {}) };
  return cached;
}
