/** Running examples/python/client.py from tests. */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const CLIENT = join(root, 'examples/python/client.py');

/** Debian's packages live in /usr/bin/python3's path (a pyenv or venv python3 on PATH may lack them). */
export const PYTHON = process.env['UAE_PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
export const pythonClientAvailable =
  spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { stdio: 'ignore' }).status === 0 && spawnSync('protoc', ['--version'], { stdio: 'ignore' }).status === 0;

export function python(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [CLIENT, ...args], { cwd: root, timeout: 120_000, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

