/**
 * Role tokens (libs/service-kit/auth.ts): UAE_AUTH_TOKENS_FILE lines
 * "<role> <token>", the role each method needs (read < submit < admin),
 * PERMISSION_DENIED for a token whose role is too low, and rotation without a
 * restart (the file is re-read when it changes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadServiceConfig, parseTokens } from '../../libs/service-kit/index.js';
import { TEST_SERVICE, bearer, clients, startTestService, unary, type TestService } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'uae-roles-'));
const file = join(dir, 'tokens');
const READ = 'read-token-0123456789abcdef';
const SUBMIT = 'submit-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const ok = { text: 'hi', inner: { size: 1 }, mode: '' };

let svc: TestService;
let c: ReturnType<typeof clients>;

beforeAll(async () => {
  writeFileSync(file, `# role token\nread ${READ}\nsubmit ${SUBMIT}\n\nadmin ${ADMIN}\n`);
  svc = await startTestService(
    { UAE_AUTH_TOKEN: '', UAE_AUTH_TOKENS_FILE: file },
    { methodRoles: { [`${TEST_SERVICE}/Echo`]: 'read', [`${TEST_SERVICE}/Sum`]: 'submit' } },
  );
  await svc.running.whenReady();
  c = clients(svc.running.addresses.grpc);
});
afterAll(async () => {
  c?.close();
  await svc?.running.shutdown('test done');
  rmSync(dir, { recursive: true, force: true });
});

function sum(token: string): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = (c.test as unknown as { Sum(md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown> }).Sum(bearer(token), (e) => resolve(e ?? undefined));
    call.write({ value: 1 });
    call.end();
  });
}

describe('role tokens', () => {
  it('lets each role call what it may: read < submit < admin; too low → PERMISSION_DENIED without running the handler', async () => {
    expect((await unary(c.test, 'Echo', ok, bearer(READ))).error).toBeUndefined();
    const denied = await sum(READ);
    expect(denied?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied?.details).toBe(`this token's role "read" may not call ${TEST_SERVICE}/Sum (it needs "submit")`);
    expect(await sum(SUBMIT)).toBeUndefined();
    expect(await sum(ADMIN)).toBeUndefined();
    expect(svc.events.started.filter((m) => m === 'Sum')).toHaveLength(2);
    // Count is not listed: admin only
    const count = (token: string) =>
      new Promise<number | undefined>((resolve) => {
        const call = c.test.Count({ n: 1, intervalMs: 0 }, bearer(token)) as grpc.ClientReadableStream<unknown>;
        call.on('data', () => {});
        call.on('error', (e: grpc.ServiceError) => resolve(e.code));
        call.on('end', () => resolve(undefined));
      });
    expect(await count(SUBMIT)).toBe(grpc.status.PERMISSION_DENIED);
    expect(await count(ADMIN)).toBeUndefined();
    expect((await unary(c.test, 'Echo', ok, bearer('unknown-token-0123456789'))).error?.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('picks up a rotated tokens file without a restart, and keeps the old tokens when the new file is broken', async () => {
    const NEXT = 'read-token-rotated-0123456789';
    writeFileSync(file, `read ${NEXT}\nsubmit ${SUBMIT}\nadmin ${ADMIN}\n`);
    await sleep(1100); // the file is looked at no more than once a second
    expect((await unary(c.test, 'Echo', ok, bearer(NEXT))).error).toBeUndefined();
    expect((await unary(c.test, 'Echo', ok, bearer(READ))).error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(svc.logs.lines.some((l) => l.msg === 'auth tokens reloaded')).toBe(true);
    writeFileSync(file, 'reader short\n');
    await sleep(1100);
    expect((await unary(c.test, 'Echo', ok, bearer(NEXT))).error).toBeUndefined();
    expect(svc.logs.lines.some((l) => l.msg === 'auth tokens file' && /unknown role "reader"/.test(String(l.err)))).toBe(true);
  });

  it('parses "<role> <token>" lines and refuses bad files at start-up', () => {
    expect(parseTokens(`# c\nRead ${READ}\n`).map((e) => e.role)).toEqual(['read']);
    expect(() => parseTokens(`read ${READ}\nadmin ${READ}\n`)).toThrow(/same token appears twice/);
    expect(() => parseTokens('')).toThrow(/no tokens/);
    const d = { name: 'kit-test', grpcPort: 0, metricsPort: 0 };
    expect(() => loadServiceConfig({ UAE_AUTH_TOKENS_FILE: join(dir, 'missing') }, d)).toThrow(ConfigError);
    expect(() => loadServiceConfig({ UAE_AUTH_TOKENS_FILE: file, UAE_AUTH_TOKEN: ADMIN }, d)).toThrow(/set only one/);
  });
});
