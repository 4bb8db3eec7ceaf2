import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedBus, KvConflictError } from '../../libs/bus/index.js';
import { busContract } from './contract.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'uae-bus-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

busContract('embedded', async (settings) => createEmbeddedBus({ dir: await tempDir(), ...settings }));

describe('embedded bus specifics', () => {
  it('persists the KV and artifacts across a restart of the process state', async () => {
    const dir = await tempDir();
    const a = await createEmbeddedBus({ dir });
    const rev = await a.kv.create('jobs.p1', new TextEncoder().encode('RUNNING'));
    await a.artifacts.put('jobs/p1/attack/000001', new Uint8Array([1, 2, 3]));
    await a.close();

    const b = await createEmbeddedBus({ dir });
    const e = await b.kv.get('jobs.p1');
    expect(e?.revision).toBe(rev);
    await expect(b.kv.create('jobs.p1', new Uint8Array([1]))).rejects.toBeInstanceOf(KvConflictError);
    expect(await b.kv.update('jobs.p1', new Uint8Array([2]), rev)).toBeGreaterThan(rev);
    expect(Array.from(await b.artifacts.get('jobs/p1/attack/000001'))).toEqual([1, 2, 3]);
    await b.close();
  });

  it('keeps each process to its own scratch folder and clears those of dead processes', async () => {
    const dir = await tempDir();
    const stale = path.join(dir, 'artifacts', 'tmp', '999999999-deadbeef');
    await fsp.mkdir(stale, { recursive: true });
    await fsp.writeFile(path.join(stale, 'half.blob'), 'x');
    const live = path.join(dir, 'artifacts', 'tmp', `${process.ppid}-cafecafe`);
    await fsp.mkdir(live, { recursive: true });
    const bus = await createEmbeddedBus({ dir });
    await bus.artifacts.put('a', new Uint8Array(3));
    const left = await fsp.readdir(path.join(dir, 'artifacts', 'tmp'));
    expect(left).not.toContain('999999999-deadbeef');
    expect(left).toContain(`${process.ppid}-cafecafe`); // another live process's writes are left alone
    await bus.close();
  });

  it('leaves no temporary files after a failed upload', async () => {
    const dir = await tempDir();
    const bus = await createEmbeddedBus({ dir });
    async function* bad(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      throw new Error('nope');
    }
    await expect(bus.artifacts.put('x/y', bad())).rejects.toThrow('nope');
    // This process's scratch folder (tmp/<pid>-<id>) holds nothing.
    const scratch = await fsp.readdir(path.join(dir, 'artifacts', 'tmp'));
    expect(scratch).toHaveLength(1);
    expect(await fsp.readdir(path.join(dir, 'artifacts', 'tmp', scratch[0]!))).toEqual([]);
    expect(await fsp.readdir(path.join(dir, 'artifacts', 'blobs'))).toEqual([]);
    await bus.close();
  });
});
