/**
 * NumPy .npz bundles: a zip of `<name>.npy` members, as numpy.savez /
 * savez_compressed write and numpy.load reads (`np.load(f)['x_adv']`). The zip
 * itself is fflate's; members are deflated (fast level) and carry a fixed
 * timestamp, so the same arrays give the same bytes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { encodeNpy, NpyFormatError, parseNpy, type NpyArray, type NpyData } from './npy.js';

export interface NpzEntry {
  shape: readonly number[];
  data: NpyData;
  /** 'bool': a Uint8Array of 0/1 stored as numpy bool. */
  dtype?: 'bool';
}

/** A fixed member time (zip times start in 1980), so the bytes depend on the arrays only. */
const MTIME = new Date(1980, 0, 1, 12);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function encodeNpz(entries: Readonly<Record<string, NpzEntry>>): Uint8Array {
  const files: Zippable = {};
  for (const [name, e] of Object.entries(entries)) {
    if (!NAME.test(name)) throw new Error(`npz array name "${name}" must be a Python identifier (letters, digits, _)`);
    files[`${name}.npy`] = encodeNpy(e.shape, e.data, e.dtype ? { dtype: e.dtype } : {});
  }
  return zipSync(files, { level: 1, mtime: MTIME });
}

/** The arrays of an .npz, by name (members that are not `.npy` are left out, as numpy.load's keys do). */
export function parseNpz(bytes: Uint8Array, source = 'npz'): Record<string, NpyArray> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (e) {
    throw new NpyFormatError(source, `not a .npz (zip) file: ${(e as Error).message}`);
  }
  const out: Record<string, NpyArray> = {};
  for (const [file, data] of Object.entries(members)) {
    if (file.endsWith('.npy')) out[file.slice(0, -4)] = parseNpy(data, `${source}:${file}`);
  }
  return out;
}

export async function readNpz(path: string): Promise<Record<string, NpyArray>> {
  return parseNpz(new Uint8Array(await readFile(path)), path);
}

export async function writeNpz(path: string, entries: Readonly<Record<string, NpzEntry>>): Promise<void> {
  await writeFile(path, encodeNpz(entries));
}
