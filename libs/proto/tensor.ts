/**
 * uae.v1.Tensor ⇄ typed arrays (proto/uae/v1/tensor.proto): a dtype, a shape
 * and the elements' raw little-endian bytes in C order, KServe-v2 style.
 *
 * Decoding validates everything a client can get wrong and throws a
 * TensorCodecError whose `field` names the offending proto field
 * ("x.dtype", "x.shape[2]", "x.raw_data"), which services map to
 * INVALID_ARGUMENT. Both directions copy: the returned array or message never
 * shares memory with its source.
 */
import { DataType, type Tensor } from './gen/uae/v1/tensor.js';
import { ProtoFieldError } from './errors.js';

/** Largest raw_data of one inline tensor (16 MiB); larger data go through ArtifactService. */
export const MAX_INLINE_TENSOR_BYTES = 16 * 1024 * 1024;
/** Largest request message a server accepts (32 MiB: grpc.max_receive_message_length). */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Most samples in one AttackService.Generate call. */
export const MAX_GENERATE_BATCH = 1024;
/** Largest chunk of an artifact upload or download message (1 MiB). */
export const MAX_ARTIFACT_CHUNK_BYTES = 1024 * 1024;

export type TensorData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** The dtypes with a typed-array representation, and that representation. */
export interface TensorArrays {
  [DataType.DATA_TYPE_FLOAT32]: Float32Array;
  [DataType.DATA_TYPE_FLOAT64]: Float64Array;
  [DataType.DATA_TYPE_INT32]: Int32Array;
  [DataType.DATA_TYPE_UINT8]: Uint8Array;
}
export type SupportedDataType = keyof TensorArrays;

type ArrayCtor = { new (length: number): TensorData; readonly BYTES_PER_ELEMENT: number };
const ARRAYS: Record<SupportedDataType, { name: string; ctor: ArrayCtor }> = {
  [DataType.DATA_TYPE_FLOAT32]: { name: 'FLOAT32', ctor: Float32Array },
  [DataType.DATA_TYPE_FLOAT64]: { name: 'FLOAT64', ctor: Float64Array },
  [DataType.DATA_TYPE_INT32]: { name: 'INT32', ctor: Int32Array },
  [DataType.DATA_TYPE_UINT8]: { name: 'UINT8', ctor: Uint8Array },
};

/** A tensor that violates its contract; `field` is e.g. "x.raw_data". */
export class TensorCodecError extends ProtoFieldError {
  constructor(field: string, message: string) {
    super(field, message);
    this.name = 'TensorCodecError';
  }
}

export function isSupportedDataType(d: unknown): d is SupportedDataType {
  return typeof d === 'number' && Object.hasOwn(ARRAYS, d);
}

/** Bytes per element of a supported dtype. */
export function dataTypeWidth(d: SupportedDataType): number {
  return ARRAYS[d].ctor.BYTES_PER_ELEMENT;
}

/** Short name, "FLOAT32" etc. (the enum value without its DATA_TYPE_ prefix). */
export function dataTypeName(d: DataType): string {
  return isSupportedDataType(d) ? ARRAYS[d].name : (DataType[d] ?? String(d)).replace(/^DATA_TYPE_/, '');
}

/** The dtype of a typed array. */
export function dataTypeOf(data: TensorData): SupportedDataType {
  if (data instanceof Float32Array) return DataType.DATA_TYPE_FLOAT32;
  if (data instanceof Float64Array) return DataType.DATA_TYPE_FLOAT64;
  if (data instanceof Int32Array) return DataType.DATA_TYPE_INT32;
  if (data instanceof Uint8Array) return DataType.DATA_TYPE_UINT8;
  throw new TypeError('tensor data must be a Float32Array, Float64Array, Int32Array or Uint8Array');
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `width`-byte group in place (host ⇄ little-endian on big-endian hosts). */
function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/** Validates a shape; returns its element count. Dims: non-negative safe integers. */
function elementCount(shape: readonly number[], field: string): number {
  let n = 1;
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d)) throw new TensorCodecError(`${field}[${i}]`, `dimension ${d} is not an integer`);
    if (d < 0) throw new TensorCodecError(`${field}[${i}]`, `negative dimension ${d}`);
    n *= d;
  });
  if (!Number.isSafeInteger(n)) throw new TensorCodecError(field, `[${shape.join(', ')}] has too many elements`);
  return n;
}

/**
 * A Tensor message holding a copy of `data` with the given shape.
 * `field` names the tensor in error messages (e.g. "x").
 */
export function toProtoTensor(data: TensorData, shape: readonly number[], field = 'tensor'): Tensor {
  const dtype = dataTypeOf(data);
  const n = elementCount(shape, `${field}.shape`);
  if (n !== data.length) {
    throw new TensorCodecError(`${field}.shape`, `[${shape.join(', ')}] holds ${n} elements but the data has ${data.length}`);
  }
  const rawData = Buffer.from(data.buffer, data.byteOffset, data.byteLength); // a view…
  const copy = Buffer.from(rawData); // …copied
  if (!HOST_LITTLE_ENDIAN) swapBytes(copy, data.BYTES_PER_ELEMENT);
  return { dtype, shape: [...shape], rawData: copy };
}

export interface FromProtoTensorOptions<D extends SupportedDataType> {
  /** The tensor's field name for error messages, e.g. "x" or "request.x". Default "tensor". */
  field?: string;
  /** Required dtype; a tensor of another dtype is rejected. */
  dtype?: D;
  /** Required rank (number of dimensions). */
  rank?: number;
  /** Largest accepted raw_data; default MAX_INLINE_TENSOR_BYTES. */
  maxBytes?: number;
  /** Reject NaN and ±Infinity (float dtypes). Default false. */
  finite?: boolean;
}

export interface DecodedTensor<D extends SupportedDataType = SupportedDataType> {
  dtype: D;
  shape: number[];
  data: TensorArrays[D];
}

/**
 * The typed array and shape of a Tensor message, validated: supported dtype,
 * non-negative integer dims, raw_data exactly product(shape) × width bytes,
 * within maxBytes; optionally the expected dtype, rank and finite values.
 */
export function fromProtoTensor<D extends SupportedDataType = SupportedDataType>(
  t: Tensor | undefined,
  opts: FromProtoTensorOptions<D> = {},
): DecodedTensor<D> {
  const field = opts.field ?? 'tensor';
  if (!t) throw new TensorCodecError(field, 'required');
  if (!isSupportedDataType(t.dtype)) {
    throw new TensorCodecError(`${field}.dtype`, `unknown dtype ${dataTypeName(t.dtype)} (${t.dtype}); expected one of FLOAT32, FLOAT64, INT32, UINT8`);
  }
  if (opts.dtype !== undefined && t.dtype !== opts.dtype) {
    throw new TensorCodecError(`${field}.dtype`, `expected ${dataTypeName(opts.dtype)}, got ${dataTypeName(t.dtype)}`);
  }
  const dtype = t.dtype as D;
  if (opts.rank !== undefined && t.shape.length !== opts.rank) {
    throw new TensorCodecError(`${field}.shape`, `expected rank ${opts.rank}, got [${t.shape.join(', ')}]`);
  }
  const n = elementCount(t.shape, `${field}.shape`);
  const { ctor, name } = ARRAYS[dtype];
  const width = ctor.BYTES_PER_ELEMENT;
  const raw = t.rawData ?? new Uint8Array(0);
  const maxBytes = opts.maxBytes ?? MAX_INLINE_TENSOR_BYTES;
  if (raw.length > maxBytes) {
    throw new TensorCodecError(`${field}.raw_data`, `${raw.length} bytes exceeds the ${maxBytes}-byte inline limit; upload large data as an artifact`);
  }
  if (raw.length !== n * width) {
    throw new TensorCodecError(
      `${field}.raw_data`,
      `${raw.length} bytes, expected ${n * width} (${name} [${t.shape.join(', ')}]: ${n} elements × ${width} bytes)`,
    );
  }
  const data = new ctor(n) as TensorArrays[D];
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  bytes.set(raw);
  if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, width);
  if (opts.finite && (data instanceof Float32Array || data instanceof Float64Array)) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new TensorCodecError(`${field}.raw_data`, `element ${i} is ${data[i]}; values must be finite`);
    }
  }
  return { dtype, shape: t.shape.slice(), data };
}
