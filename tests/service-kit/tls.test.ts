/**
 * TLS on the kit's gRPC port (UAE_TLS_CERT / UAE_TLS_KEY) and mTLS
 * (UAE_TLS_CLIENT_CA), with a CA generated at test time by openssl.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadServiceConfig } from '../../libs/service-kit/index.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { TEST_SERVICE, TOKEN, bearer, protos, startTestService, unary, type AnyClient, type TestService } from './helpers.js';

const Test = grpc.makeGenericClientConstructor(protos.service(TEST_SERVICE), 'Test');
const ok = { text: 'hi', inner: { size: 1 }, mode: '' };

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki?.remove());

async function echo(address: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}) {
  const client = new Test(address, creds, options) as unknown as AnyClient;
  try {
    return await unary<{ text: string }>(client, 'Echo', ok, bearer(), { deadline: Date.now() + 5000 });
  } finally {
    client.close();
  }
}

describe('service-kit TLS', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ UAE_TLS_CERT: pki.serverCertFile, UAE_TLS_KEY: pki.serverKeyFile });
    await svc.running.whenReady();
  });
  afterAll(async () => svc?.running.shutdown('test done'));

  it('serves TLS: a client trusting the CA is answered; plaintext and another CA are not', async () => {
    const address = `localhost:${svc.running.ports.grpc}`;
    const good = await echo(address, grpc.credentials.createSsl(pki.read(pki.caFile)));
    expect(good.error).toBeUndefined();
    expect(good.response?.text).toBe('hi');
    expect((await echo(address, grpc.credentials.createInsecure())).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await echo(address, grpc.credentials.createSsl(pki.read(pki.otherCaFile)))).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(svc.logs.lines.some((l) => /plaintext/.test(String(l.msg)))).toBe(false);
  });
});

describe('service-kit mTLS', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ UAE_TLS_CERT: pki.serverCertFile, UAE_TLS_KEY: pki.serverKeyFile, UAE_TLS_CLIENT_CA: pki.caFile });
    await svc.running.whenReady();
  });
  afterAll(async () => svc?.running.shutdown('test done'));

  it('requires a client certificate signed by UAE_TLS_CLIENT_CA', async () => {
    const address = `localhost:${svc.running.ports.grpc}`;
    const ca = pki.read(pki.caFile);
    expect((await echo(address, grpc.credentials.createSsl(ca))).error?.code).toBe(grpc.status.UNAVAILABLE);
    const withCert = await echo(address, grpc.credentials.createSsl(ca, pki.read(pki.clientKeyFile), pki.read(pki.clientCertFile)));
    expect(withCert.error).toBeUndefined();
    expect(svc.events.started).toEqual(['Echo']);
  });
});

describe('TLS configuration', () => {
  it('wants cert and key together, mTLS only with TLS, readable files; the plaintext warning names the variables', async () => {
    const d = { name: 'kit-test', grpcPort: 0, metricsPort: 0 };
    const err = (env: Record<string, string>) => {
      try {
        loadServiceConfig({ UAE_AUTH_TOKEN: TOKEN, ...env }, d);
      } catch (e) {
        return (e as ConfigError).issues.map((i) => i.variable).join(' | ');
      }
      return 'no error';
    };
    expect(err({ UAE_TLS_CERT: pki.serverCertFile })).toBe('UAE_TLS_CERT / UAE_TLS_KEY');
    expect(err({ UAE_TLS_CLIENT_CA: pki.caFile })).toBe('UAE_TLS_CLIENT_CA');
    expect(err({ UAE_TLS_CERT: '/nonexistent.pem', UAE_TLS_KEY: pki.serverKeyFile })).toMatch(/^UAE_TLS_CERT=/);
    const plain = await startTestService();
    try {
      expect(plain.logs.lines.some((l) => /gRPC is plaintext.*UAE_TLS_CERT/.test(String(l.msg)))).toBe(true);
    } finally {
      await plain.running.shutdown('test done');
    }
  });
});
