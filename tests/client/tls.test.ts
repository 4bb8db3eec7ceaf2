/**
 * TLS end to end: a real orchestrator process serving mTLS
 * (UAE_TLS_CERT / UAE_TLS_KEY / UAE_TLS_CLIENT_CA, a CA generated at test
 * time), reached by libs/client, the `uae` CLI (--tls-ca / --tls-cert /
 * --tls-key) and the Python example client; plaintext and certificate-less
 * clients are refused. Its tokens come from UAE_AUTH_TOKENS_FILE: a read
 * token can look but not submit or upload.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, CommanderError } from 'commander';
import { connect } from '../../libs/client/index.js';
import { remoteArtifactsCommand } from '../../cli/commands/remote-artifacts.js';
import type { RemoteIO } from '../../cli/commands/remote-common.js';
import { startServiceProcess, TEST_TOKEN, type ServiceProcess } from '../helpers/services.js';
import { remoteSubmitCommand } from '../../cli/commands/remote-submit.js';

const READ_TOKEN = 'uae-read-only-token-0123456789';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { python, pythonClientAvailable } from './python-helpers.js';

let pki: TestPki;
let orch: ServiceProcess;
let address: string;
let file: string;
let sha: string;

beforeAll(async () => {
  pki = makeTestPki();
  const tokens = join(pki.dir, 'tokens');
  writeFileSync(tokens, `admin ${TEST_TOKEN}\nread ${READ_TOKEN}\n`);
  orch = await startServiceProcess('orchestrator', {
    env: {
      UAE_AUTH_TOKEN: undefined,
      UAE_AUTH_TOKENS_FILE: tokens,
      UAE_TLS_CERT: pki.serverCertFile,
      UAE_TLS_KEY: pki.serverKeyFile,
      UAE_TLS_CLIENT_CA: pki.caFile,
      UAE_TLS_CA: pki.caFile,
      // remote stages (never reached here): no tfjs in this process
      UAE_TRAINER_ADDR: '127.0.0.1:9',
      UAE_EVALUATOR_ADDR: '127.0.0.1:9',
    },
  });
  address = `localhost:${orch.grpc.slice(orch.grpc.lastIndexOf(':') + 1)}`;
  file = join(pki.dir, 'blob.bin');
  const data = Buffer.from('uae over TLS '.repeat(1000));
  writeFileSync(file, data);
  sha = createHash('sha256').update(data).digest('hex');
}, 90_000);

afterAll(async () => {
  await orch?.stop();
  pki?.remove();
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = { out: '', err: '', code: 0 };
  const sink = (add: (s: string) => void) => new Writable({ write: (c, _e, cb) => (add(String(c)), cb()) });
  const io: RemoteIO = {
    out: sink((s) => (r.out += s)),
    err: sink((s) => (r.err += s)),
    env: { UAE_SERVER: address, UAE_AUTH_TOKEN: orch.token, ...env },
    tty: false,
    exit: (c) => (r.code = c),
  };
  const program = new Command('uae').addCommand(remoteArtifactsCommand(io)).addCommand(remoteSubmitCommand(io)).exitOverride();
  try {
    await program.parseAsync(['node', 'uae', ...args]);
  } catch (e) {
    r.code = e instanceof CommanderError ? e.exitCode : 2;
    r.err += `uae: ${(e as Error).message}\n`;
  }
  return r;
}

describe('TLS end to end (orchestrator with mTLS)', () => {
  it('libs/client with the CA and a client certificate uploads; without a certificate or in plaintext it cannot', async () => {
    const tls = { rootCerts: pki.read(pki.caFile), certChain: pki.read(pki.clientCertFile), privateKey: pki.read(pki.clientKeyFile) };
    const client = connect({ address, token: orch.token, tls, deadlineMs: 10_000 });
    try {
      expect(await client.health()).toBe('SERVING');
      const res = await client.artifacts.put('blob.bin', pki.read(file), 'application/octet-stream');
      expect(res.ref?.sha256).toBe(sha);
    } finally {
      client.close();
    }
    for (const opts of [{ tls: { rootCerts: pki.read(pki.caFile) } }, {}]) {
      const c = connect({ address, token: orch.token, deadlineMs: 5000, ...opts });
      try {
        await expect(c.health()).rejects.toMatchObject({ code: 14 });
      } finally {
        c.close();
      }
    }
  });

  it('the uae CLI speaks TLS with --tls-ca/--tls-cert/--tls-key (or UAE_TLS_* env)', async () => {
    const flags = ['--tls-ca', pki.caFile, '--tls-cert', pki.clientCertFile, '--tls-key', pki.clientKeyFile];
    const stat = await cli(['artifacts', 'stat', sha, ...flags]);
    expect(stat.err).toBe('');
    expect(stat.code).toBe(0);
    expect(stat.out).toContain(sha);
    const env = await cli(['artifacts', 'stat', sha], { UAE_TLS_CA: pki.caFile, UAE_TLS_CLIENT_CERT: pki.clientCertFile, UAE_TLS_CLIENT_KEY: pki.clientKeyFile });
    expect([env.code, env.err]).toEqual([0, '']);
    const plain = await cli(['artifacts', 'stat', sha, '--timeout', '3000']);
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/UNAVAILABLE/);
  });

  it('a read-only token can look but cannot submit or upload (PERMISSION_DENIED)', async () => {
    const flags = ['--tls-ca', pki.caFile, '--tls-cert', pki.clientCertFile, '--tls-key', pki.clientKeyFile, '--token', READ_TOKEN];
    expect((await cli(['artifacts', 'stat', sha, ...flags])).code).toBe(0);
    const submit = await cli(['submit', '--dataset', 'mice-protein', '--model', 'dense-ae', '--methods', 'repeat', ...flags]);
    expect(submit.code).toBe(2);
    expect(submit.err).toMatch(/PERMISSION_DENIED.*role "read" may not call uae\.v1\.JobService\/SubmitPipeline/);
    const put = await cli(['artifacts', 'put', 'x', file, ...flags]);
    expect(put.err).toMatch(/PERMISSION_DENIED/);
  });

  it.skipIf(!pythonClientAvailable)('the Python client speaks TLS with --tls-ca/--tls-cert/--tls-key', async () => {
    const up = await python(['--server', address, '--token', orch.token, '--tls-ca', pki.caFile, '--tls-cert', pki.clientCertFile, '--tls-key', pki.clientKeyFile, 'upload', file]);
    expect(up.stderr.slice(-500)).not.toMatch(/Traceback/);
    expect(up.code).toBe(0);
    expect(up.stdout).toBe(`${sha}\n`);
    const plain = await python(['--server', address, '--token', orch.token, 'upload', file]);
    expect(plain.code).toBe(2);
  });
});
