/**
 * Running a Python script with Debian's numpy (python3-numpy, which .ci/run
 * installs), for tests that check our files against what numpy itself writes
 * and reads. A missing numpy fails the test with the install line, not a skip.
 */
import { spawnSync } from 'node:child_process';
import { PYTHON } from '../client/python-helpers.js';

export { PYTHON };

/** Runs `script` with `args` (sys.argv[1:]); returns its stdout, or throws with its stderr. */
export function runNumpy(script: string, args: string[] = [], cwd?: string): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 60_000, ...(cwd ? { cwd } : {}) });
  if (r.error) throw new Error(`${PYTHON}: ${r.error.message}`);
  if (r.status !== 0) {
    if (/No module named '?numpy/.test(r.stderr)) throw new Error(`${PYTHON} has no numpy: apt-get install -y python3-numpy (.ci/run installs it)`);
    throw new Error(`${PYTHON} exited ${r.status}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}
