import type * as grpc from '@grpc/grpc-js';
import { describe, expectTypeOf, it } from 'vitest';
import type {
  BidiStreamHandler,
  ClientStreamHandler,
  HandlersFor,
  ServiceRegistrar,
  ServerStreamHandler,
  UnaryHandler,
} from '../../libs/service-kit/index.js';

interface Req {
  text: string;
}
interface Res {
  n: number;
}
const method = <RS extends boolean, SS extends boolean>(requestStream: RS, responseStream: SS) => ({
  path: '/x.v1.X/M',
  requestStream,
  responseStream,
  requestSerialize: (_: Req): Buffer => Buffer.alloc(0),
  requestDeserialize: (_: Buffer): Req => ({ text: '' }),
  responseSerialize: (_: Res): Buffer => Buffer.alloc(0),
  responseDeserialize: (_: Buffer): Res => ({ n: 0 }),
});
// The shape ts-proto's outputServices=grpc-js generates: literal stream flags, typed (de)serializers.
const typed = {
  unary: method(false, false),
  serverStream: method(false, true),
  clientStream: method(true, false),
  bidi: method(true, true),
} as const;

describe('HandlersFor', () => {
  it('derives exact handler types from a typed definition', () => {
    type H = HandlersFor<typeof typed>;
    expectTypeOf<H['unary']>().toEqualTypeOf<UnaryHandler<Req, Res>>();
    expectTypeOf<H['serverStream']>().toEqualTypeOf<ServerStreamHandler<Req, Res>>();
    expectTypeOf<H['clientStream']>().toEqualTypeOf<ClientStreamHandler<Req, Res>>();
    expectTypeOf<H['bidi']>().toEqualTypeOf<BidiStreamHandler<Req, Res>>();
    const handlers: H = {
      unary: (req) => ({ n: req.text.length }),
      serverStream: async function* (req) {
        yield { n: req.text.length };
      },
      clientStream: async (reqs) => {
        let n = 0;
        for await (const r of reqs) n += r.text.length;
        return { n };
      },
      bidi: async (reqs, ctx) => {
        for await (const r of reqs) await ctx.write({ n: r.text.length });
      },
    };
    expectTypeOf(handlers).toBeObject();
    // and ServiceRegistrar.add takes such a definition
    expectTypeOf<typeof typed>().toExtend<grpc.ServiceDefinition>();
    expectTypeOf<ServiceRegistrar['add']>().toBeCallableWith(typed, handlers);
  });

  it('accepts any handler kind for an untyped (proto-loader) definition', () => {
    type H = HandlersFor<grpc.ServiceDefinition>;
    expectTypeOf<UnaryHandler<Req, Res>>().toExtend<H[string]>();
    expectTypeOf<ServerStreamHandler<Req, Res>>().toExtend<H[string]>();
  });
});
