/** Byte sources for uploads, re-cut into fixed-size chunks. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';

/** gRPC upload/download chunk limit (MAX_ARTIFACT_CHUNK_BYTES in libs/proto). */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** What can be uploaded: bytes, a stream of bytes (e.g. a Node Readable), or a file. */
export type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | { path: string };

export function isFileSource(s: ByteSource): s is { path: string } {
  return typeof s === 'object' && s !== null && !(s instanceof Uint8Array) && typeof (s as { path?: unknown }).path === 'string' && !isIterable(s);
}

function isIterable(s: unknown): boolean {
  return typeof s === 'object' && s !== null && (Symbol.asyncIterator in s || Symbol.iterator in s);
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * Re-cuts a byte stream into chunks of exactly `size` bytes (the last one
 * shorter); empty pieces are dropped, bytes are copied only when a chunk spans pieces.
 */
export async function* rechunk(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of source) {
    let buf = asBuffer(piece);
    while (buf.length > 0) {
      const take = Math.min(size - held, buf.length);
      parts.push(buf.subarray(0, take));
      held += take;
      buf = buf.subarray(take);
      if (held === size) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
}

/** The bytes of a source as a stream of pieces, with its size when known without reading it. */
export async function openSource(source: ByteSource, chunkSize: number): Promise<{ pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>; size?: number; name?: string }> {
  if (source instanceof Uint8Array) return { pieces: [source], size: source.byteLength };
  if (isFileSource(source)) {
    const st = await stat(source.path);
    if (!st.isFile()) throw new Error(`${source.path} is not a regular file`);
    return { pieces: createReadStream(source.path, { highWaterMark: chunkSize }) as AsyncIterable<Buffer>, size: st.size, name: basename(source.path) };
  }
  return { pieces: source };
}

/** Reads a whole stream into one buffer (for uploads of a stream whose size was not given). */
export async function collect(pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of pieces) parts.push(asBuffer(p));
  return Buffer.concat(parts);
}

const MEDIA_TYPES: Record<string, string> = {
  '.npy': 'application/x-npy',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.results': 'application/vnd.uae.v1.sample-results',
};

/** Media type by file extension: .npy → application/x-npy, .json → application/json, else application/octet-stream. */
export function mediaTypeFor(path: string): string {
  return MEDIA_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}
