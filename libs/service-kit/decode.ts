/**
 * Request decoding that never throws inside grpc-js.
 *
 * grpc-js runs a method's `requestDeserialize` below every interceptor; when
 * it throws, grpc-js answers INTERNAL "Error deserializing request" itself, so
 * the kit never sees the call (it used to be logged and counted as CANCELLED).
 * ts-proto's decoders throw for malformed bytes and, with `forceLong=number`,
 * for any 64-bit value above 2^53 − 1.
 *
 * guardDefinition() wraps every deserializer of a service definition: a
 * failure returns an `UndecodableRequest` carrying a RequestDecodeError
 * instead of throwing. The kit's interceptor answers it (INVALID_ARGUMENT,
 * errors.ts) before any handler starts, with the usual log line and metrics.
 *
 * The error names the field when it can: a RequestDiagnoser re-reads the bytes
 * with the method's descriptor (from the protos given to the kit, through
 * @bufbuild/protobuf's reflection, 64-bit values as bigint) and reports the
 * first 64-bit field beyond 2^53 − 1 by its proto path
 * (`spec.dataset.seed`, `sample_ids[3]`); bytes that are not the message at
 * all are reported as such.
 */
import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { Kinded } from '../errors/index.js';

/** A request that could not be decoded; `field` is its proto path when known. */
export class RequestDecodeError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'RequestDecodeError';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(field !== undefined ? `${field}: ${message}` : message);
  }
}

/** What a guarded deserializer returns instead of throwing. */
export class UndecodableRequest {
  constructor(readonly error: RequestDecodeError) {}
}

const INT64_TYPES = new Set<ScalarType>([ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export type RequestDiagnoser = (path: string, bytes: Uint8Array, err: unknown) => RequestDecodeError;

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The first 64-bit value beyond ±(2^53 − 1) in a decoded message, by proto path. */
function findUnsafeInt64(desc: DescMessage, message: Record<string, unknown>, prefix: string, depth = 0): { field: string; value: bigint } | undefined {
  if (depth > 100) return undefined;
  const unsafe = (v: unknown) => typeof v === 'bigint' && (v > MAX_SAFE || v < -MAX_SAFE);
  const valueOf = (f: DescField): unknown => {
    if (f.oneof) {
      const o = message[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      return o?.case === f.localName ? o.value : undefined;
    }
    return message[f.localName];
  };
  for (const f of desc.fields) {
    const path = `${prefix}${f.name}`;
    const v = valueOf(f);
    if (v === undefined || v === null) continue;
    switch (f.fieldKind) {
      case 'scalar':
        if (INT64_TYPES.has(f.scalar) && unsafe(v)) return { field: path, value: v as bigint };
        break;
      case 'message': {
        const hit = findUnsafeInt64(f.message, v as Record<string, unknown>, `${path}.`, depth + 1);
        if (hit) return hit;
        break;
      }
      case 'list': {
        const list = v as unknown[];
        for (let i = 0; i < list.length; i++) {
          if (f.listKind === 'scalar' && INT64_TYPES.has(f.scalar) && unsafe(list[i])) return { field: `${path}[${i}]`, value: list[i] as bigint };
          if (f.listKind === 'message') {
            const hit = findUnsafeInt64(f.message, list[i] as Record<string, unknown>, `${path}[${i}].`, depth + 1);
            if (hit) return hit;
          }
        }
        break;
      }
      case 'map': {
        for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
          const at = `${path}[${JSON.stringify(k)}]`;
          if (f.mapKind === 'scalar' && INT64_TYPES.has(f.scalar) && unsafe(item)) return { field: at, value: item as bigint };
          if (f.mapKind === 'message') {
            const hit = findUnsafeInt64(f.message, item as Record<string, unknown>, `${at}.`, depth + 1);
            if (hit) return hit;
          }
        }
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

/** The FileDescriptorProtos proto-loader keeps with every type and method of a package definition. */
function fileDescriptors(pkg: protoLoader.PackageDefinition): FileDescriptorProto[] {
  const byName = new Map<string, FileDescriptorProto>();
  const add = (bufs: unknown) => {
    if (!Array.isArray(bufs)) return;
    for (const b of bufs) {
      if (!(b instanceof Uint8Array)) continue;
      const fd = fromBinary(FileDescriptorProtoSchema, b);
      if (!byName.has(fd.name)) byName.set(fd.name, fd);
    }
  };
  for (const entry of Object.values(pkg)) {
    if (entry && typeof entry === 'object' && 'fileDescriptorProtos' in entry) add((entry as { fileDescriptorProtos: unknown }).fileDescriptorProtos);
    else if (entry && typeof entry === 'object') {
      for (const m of Object.values(entry as Record<string, unknown>)) {
        const rt = (m as { requestType?: { fileDescriptorProtos?: unknown } } | null)?.requestType;
        if (rt) add(rt.fileDescriptorProtos);
      }
    }
  }
  return [...byName.values()];
}

/**
 * protobufjs (behind proto-loader) writes type references relative to their
 * scope ("Tensor", "google.protobuf.Timestamp"); descriptors proper, and
 * @bufbuild/protobuf, want them fully qualified (".uae.v1.Tensor"). Resolve
 * each as protoc does: innermost scope first.
 */
function qualifyTypeNames(files: FileDescriptorProto[]): void {
  const known = new Set<string>();
  const collect = (prefix: string, messages: FileDescriptorProto['messageType'], enums: FileDescriptorProto['enumType']) => {
    for (const e of enums) known.add(`${prefix}.${e.name}`);
    for (const m of messages) {
      known.add(`${prefix}.${m.name}`);
      collect(`${prefix}.${m.name}`, m.nestedType, m.enumType);
    }
  };
  for (const f of files) collect(f.package ? `.${f.package}` : '', f.messageType, f.enumType);
  const resolve = (scope: string, name: string): string => {
    if (name === '' || name.startsWith('.')) return name;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      if (known.has(`${s}.${name}`)) return `${s}.${name}`;
      if (s === '') return name;
    }
  };
  const fix = (scope: string, messages: FileDescriptorProto['messageType']) => {
    for (const m of messages) {
      const inner = `${scope}.${m.name}`;
      for (const fld of [...m.field, ...m.extension]) {
        fld.typeName = resolve(inner, fld.typeName);
        fld.extendee = resolve(inner, fld.extendee);
      }
      fix(inner, m.nestedType);
    }
  };
  for (const f of files) {
    const scope = f.package ? `.${f.package}` : '';
    fix(scope, f.messageType);
    for (const svc of f.service) {
      for (const m of svc.method) {
        m.inputType = resolve(scope, m.inputType);
        m.outputType = resolve(scope, m.outputType);
      }
    }
  }
}

/**
 * A diagnoser over the messages of `packageDefinitions` (proto-loader output).
 * Methods it has no descriptor for get a generic "not a valid request" error.
 */
export function createRequestDiagnoser(packageDefinitions: readonly protoLoader.PackageDefinition[]): RequestDiagnoser {
  let registry: FileRegistry | undefined;
  try {
    const files = packageDefinitions.flatMap(fileDescriptors);
    qualifyTypeNames(files);
    registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
  } catch {
    registry = undefined; // diagnosis only: a registry that cannot be built just means less precise messages
  }
  const inputs = new Map<string, DescMessage | undefined>();
  const inputOf = (path: string): DescMessage | undefined => {
    if (inputs.has(path)) return inputs.get(path);
    const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
    const svc = m && registry ? registry.getService(m[1]!) : undefined;
    const method = svc?.methods.find((x) => x.name === m![2]);
    inputs.set(path, method?.input);
    return method?.input;
  };
  return (path, bytes, err) => {
    const desc = inputOf(path);
    if (!desc) return new RequestDecodeError(`request is not a valid message for ${path}: ${errText(err)}`);
    let message: Record<string, unknown>;
    try {
      message = fromBinary(desc, bytes) as unknown as Record<string, unknown>;
    } catch (e) {
      return new RequestDecodeError(`request is not a valid ${desc.typeName} (${bytes.length} bytes): ${errText(e)}`);
    }
    const hit = findUnsafeInt64(desc, message, '');
    if (hit) return new RequestDecodeError(`must be at most 2^53 − 1 (${Number.MAX_SAFE_INTEGER}) in magnitude; got ${hit.value}`, hit.field);
    return new RequestDecodeError(`request is not a valid ${desc.typeName}: ${errText(err)}`);
  };
}

/** The definition with every request deserializer guarded (see the module comment). */
export function guardDefinition<D extends grpc.ServiceDefinition>(definition: D, diagnose: RequestDiagnoser): D {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, def] of Object.entries(definition) as Array<[string, grpc.MethodDefinition<unknown, unknown>]>) {
    const decode = def.requestDeserialize;
    out[key] = {
      ...def,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest(diagnose(def.path, bytes, err));
        }
      },
    };
  }
  return out as unknown as D;
}
