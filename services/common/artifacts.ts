/**
 * ArtifactRef (proto/uae/v1/artifact.proto) ⇄ the bus's keyed ArtifactStore.
 *
 * Convention (shared by every service, ArtifactService included): an artifact
 * referenced by sha256 is stored under the key `sha256/<64 lowercase hex>`
 * (`casKey`). Writing the same bytes again writes the same key with the same
 * content (idempotent). Anything else (model records, shard results) lives
 * under its own deterministic key and points at content by ArtifactRef.
 *
 *   const ref = await putContent(bus.artifacts, bytes, { mediaType: 'application/x-npy', name: 'x_train.npy' });
 *   const bytes = await getByRef(bus.artifacts, req.dataset.npy.xTrain, 'dataset.npy.x_train');
 *
 * getByRef validates the ref against the contract and throws errors the
 * service-kit maps: ArtifactRefValidationError → INVALID_ARGUMENT (bad sha256,
 * size or media type mismatch), ArtifactRefNotFoundError → NOT_FOUND; both name the field.
 */
import { createHash } from 'node:crypto';
import { ArtifactNotFoundError, type ArtifactInfo, type ArtifactStore } from '../../libs/bus/index.js';
import type { v1 } from '../../libs/proto/index.js';
import type { Kinded } from '../../libs/errors/index.js';

export const MEDIA_TYPES = {
  npy: 'application/x-npy',
  json: 'application/json',
  octetStream: 'application/octet-stream',
  sampleResults: 'application/vnd.uae.v1.sample-results',
  protobuf: 'application/x-protobuf',
} as const;

const SHA256_RE = /^[0-9a-f]{64}$/;

export class ArtifactRefValidationError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ArtifactRefValidationError';
  }
}

export class ArtifactRefNotFoundError extends Error implements Kinded {
  readonly kind = 'not-found' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ArtifactRefNotFoundError';
  }
}

/** The store key of content with this sha256: `sha256/<hex>`. */
export function casKey(sha256: string): string {
  if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
  return `sha256/${sha256}`;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The ArtifactRef of a stored artifact. */
export function refFromInfo(info: ArtifactInfo, name = ''): v1.ArtifactRef {
  return { sha256: info.sha256, sizeBytes: info.size, mediaType: info.mediaType, name };
}

/** Stores `bytes` under casKey(sha256) and returns its ref (a no-op rewrite when already there). */
export async function putContent(store: ArtifactStore, bytes: Uint8Array, opts: { mediaType?: string; name?: string } = {}): Promise<v1.ArtifactRef> {
  const sha = sha256Hex(bytes);
  const key = casKey(sha);
  const existing = await store.stat(key);
  const mediaType = opts.mediaType ?? MEDIA_TYPES.octetStream;
  if (existing && existing.sha256 === sha && existing.mediaType === mediaType) return refFromInfo(existing, opts.name);
  return refFromInfo(await store.put(key, bytes, { mediaType }), opts.name);
}

/** Checks a ref's form and that the store holds it (size/media type must match when set); its ArtifactInfo. */
export async function statRef(store: ArtifactStore, ref: v1.ArtifactRef | undefined, field: string): Promise<ArtifactInfo> {
  if (!ref) throw new ArtifactRefValidationError(field, 'required');
  if (!SHA256_RE.test(ref.sha256)) {
    throw new ArtifactRefValidationError(`${field}.sha256`, `must be 64 lowercase hex characters, got ${JSON.stringify(ref.sha256.slice(0, 80))}`);
  }
  const info = await store.stat(casKey(ref.sha256));
  if (!info) throw new ArtifactRefNotFoundError(field, `no artifact with sha256 ${ref.sha256}`);
  if (ref.sizeBytes && ref.sizeBytes !== info.size) {
    throw new ArtifactRefValidationError(`${field}.size_bytes`, `${ref.sizeBytes} does not match the stored artifact's ${info.size} bytes`);
  }
  if (ref.mediaType && ref.mediaType !== info.mediaType) {
    throw new ArtifactRefValidationError(`${field}.media_type`, `"${ref.mediaType}" does not match the stored artifact's "${info.mediaType}"`);
  }
  return info;
}

/** The bytes of a referenced artifact (validated as statRef does); `check` sees its size before anything is downloaded. */
export async function getByRef(store: ArtifactStore, ref: v1.ArtifactRef | undefined, field: string, check?: (info: ArtifactInfo) => void): Promise<Uint8Array> {
  const info = await statRef(store, ref, field);
  check?.(info);
  try {
    return await store.get(info.key);
  } catch (e) {
    if (e instanceof ArtifactNotFoundError) throw new ArtifactRefNotFoundError(field, `no artifact with sha256 ${ref!.sha256}`);
    throw e;
  }
}
