/** Atomic file writes: a reader (or an interrupted run) never sees half a file. */
import { rename, writeFile } from 'node:fs/promises';

/** Writes `data` to `path` through a temporary file and a rename. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
