/**
 * What an outside client puts on the wire, without our generated encoders in
 * the way: protobuf wire bytes built by hand, a grpc-js client whose
 * serializers pass bytes through unchanged, and a TCP proxy that appends a
 * second `authorization` header to a request's HEADERS frame (Node's own
 * http2 client refuses to send one; grpcio and curl do).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';

// ---------------------------------------------------------------------------
// Protobuf wire format

export function varint(value: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Buffer.from(out);
}

/** A varint field (wire type 0): tag then value. */
export function varintField(field: number, value: bigint): Buffer {
  return Buffer.concat([varint(BigInt(field << 3)), varint(value)]);
}

/** A length-delimited field (wire type 2). */
export function bytesField(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(payload.length)), Buffer.from(payload)]);
}

// ---------------------------------------------------------------------------
// A byte-level unary call

export interface RawResult {
  code: number;
  details: string;
  field?: string;
  response?: Buffer;
}

const identity = (b: Buffer) => b;

/** One unary call of `path` carrying exactly `body` as its message. */
export function rawUnary(
  address: string,
  path: string,
  body: Uint8Array,
  metadata: grpc.Metadata = new grpc.Metadata(),
  options: { deadlineMs?: number; credentials?: grpc.ChannelCredentials } = {},
): Promise<RawResult> {
  const Client = grpc.makeGenericClientConstructor(
    { call: { path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    'Raw',
  );
  const client = new Client(address, options.credentials ?? grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    call(req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
  };
  return new Promise((resolve) => {
    const callOptions: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
    client.call(Buffer.from(body), metadata, callOptions, (err, res) => {
      client.close();
      if (!err) return resolve({ code: grpc.status.OK, details: '', response: res });
      const field = err.metadata?.get('uae-field')[0];
      resolve({ code: err.code, details: err.details, ...(typeof field === 'string' ? { field } : {}) });
    });
  });
}

// ---------------------------------------------------------------------------
// A proxy that duplicates a header

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const FLAG_PADDED = 0x8;

/** HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2), no Huffman. */
function literalHeader(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  if (n.length > 126 || v.length > 126) throw new Error('header too long for this tiny encoder');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/**
 * Listens on loopback and forwards to `target` (host:port), appending
 * `extra` headers to every request HEADERS frame the client sends (HPACK
 * blocks may end with further representations, so the client's own encoding
 * is left untouched). The response direction is copied byte for byte.
 */
export async function headerAppendingProxy(target: string, extra: Array<[string, string]>): Promise<{ address: string; close(): Promise<void> }> {
  const [host, portText] = [target.slice(0, target.lastIndexOf(':')), target.slice(target.lastIndexOf(':') + 1)];
  const appended = Buffer.concat(extra.map(([n, v]) => literalHeader(n, v)));
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(portText), host.replace(/^\[|\]$/g, ''));
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        upstream.write(buf.subarray(0, PREFACE.length));
        buf = buf.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        let flags = buf[4]!;
        let payload = buf.subarray(9, 9 + len);
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === HEADERS && streamId % 2 === 1) {
          if (flags & FLAG_PADDED) {
            const pad = payload[0]!;
            payload = payload.subarray(1, payload.length - pad);
            flags &= ~FLAG_PADDED;
          }
          payload = Buffer.concat([payload, appended]);
        }
        const head = Buffer.alloc(9);
        head.writeUIntBE(payload.length, 0, 3);
        head[3] = type;
        head[4] = flags;
        head.writeUInt32BE(streamId, 5);
        upstream.write(Buffer.concat([head, payload]));
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
