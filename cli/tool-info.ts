/** What a run's config.json records about the tool that made it: package name and version, and the git commit when the sources are a checkout. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, toolInfo as packageTool, type ToolInfo } from '../libs/runtime/package-info.js';

export interface RecordedTool extends ToolInfo {
  /** HEAD of the checkout the tool runs from (with "-dirty" when it has uncommitted changes); absent outside one. */
  commit?: string;
}

let cached: RecordedTool | undefined;

function gitCommit(root: string): string | undefined {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`;
  } catch {
    return undefined;
  }
}

export function toolInfo(): RecordedTool {
  if (cached) return cached;
  const root = packageRoot();
  const commit = existsSync(join(root, '.git')) ? gitCommit(root) : undefined;
  cached = { ...packageTool(), ...(commit ? { commit } : {}) };
  return cached;
}
