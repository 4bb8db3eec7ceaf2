import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, describeConfig, loadServiceConfig, type ServiceDefaults } from '../../libs/service-kit/index.js';

const defaults: ServiceDefaults = { name: 'attack', grpcPort: 50053, metricsPort: 9103 };
const token = 'a-long-enough-token-value';

function issues(env: Record<string, string | undefined>, d: ServiceDefaults = defaults): ConfigError {
  try {
    loadServiceConfig(env, d);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadServiceConfig', () => {
  it('applies defaults', () => {
    const c = loadServiceConfig({ UAE_AUTH_TOKEN: token }, defaults);
    expect(c).toMatchObject({
      serviceName: 'attack',
      grpc: { host: '0.0.0.0', port: 50053 },
      metrics: { host: '0.0.0.0', port: 9103 },
      natsServers: [],
      busMode: 'embedded',
      auth: { disabled: false, token },
      logLevel: 'info',
      dataDir: undefined,
      backend: 'auto',
      shutdownTimeoutMs: 10_000,
      unknownVariables: [],
    });
  });

  it('reads every variable; 0 ports are allowed; blanks count as unset', () => {
    const c = loadServiceConfig(
      {
        UAE_SERVICE_NAME: 'attack-2',
        UAE_GRPC_HOST: '127.0.0.1',
        UAE_GRPC_PORT: '0',
        UAE_METRICS_HOST: '[::1]',
        UAE_METRICS_PORT: ' 0 ',
        UAE_NATS_URL: 'nats://a:4222, tls://b:4222,c:4222',
        UAE_AUTH_DISABLED: 'TRUE',
        UAE_AUTH_TOKEN: '',
        UAE_LOG_LEVEL: 'DEBUG',
        UAE_DATA_DIR: 'data',
        UAE_BACKEND: 'cpu',
        UAE_SHUTDOWN_TIMEOUT_MS: '2500',
        UAE_TYPO_PORT: '1',
      },
      defaults,
    );
    expect(c).toMatchObject({
      serviceName: 'attack-2',
      grpc: { host: '127.0.0.1', port: 0 },
      metrics: { host: '::1', port: 0 },
      natsServers: ['nats://a:4222', 'tls://b:4222', 'c:4222'],
      busMode: 'nats',
      auth: { disabled: true },
      logLevel: 'debug',
      dataDir: resolve('data'),
      backend: 'cpu',
      shutdownTimeoutMs: 2500,
      unknownVariables: ['UAE_TYPO_PORT'],
    });
    expect(JSON.stringify(describeConfig(loadServiceConfig({ UAE_AUTH_TOKEN: token }, defaults)))).not.toContain(token);
  });

  it('names every bad variable with its reason in one message', () => {
    const e = issues({
      UAE_SERVICE_NAME: 'Attack!',
      UAE_GRPC_PORT: '70000',
      UAE_METRICS_PORT: 'abc',
      UAE_GRPC_HOST: 'bad host',
      UAE_NATS_URL: 'http://x:4222',
      UAE_LOG_LEVEL: 'loud',
      UAE_BACKEND: 'gpu',
      UAE_SHUTDOWN_TIMEOUT_MS: '-1',
    });
    const vars = e.issues.map((i) => i.variable.split('=')[0]);
    expect(vars).toEqual([
      'UAE_SERVICE_NAME',
      'UAE_GRPC_HOST',
      'UAE_GRPC_PORT',
      'UAE_METRICS_PORT',
      'UAE_NATS_URL',
      'UAE_LOG_LEVEL',
      'UAE_BACKEND',
      'UAE_SHUTDOWN_TIMEOUT_MS',
      'UAE_AUTH_TOKEN / UAE_AUTH_DISABLED',
    ]);
    expect(e.message).toMatch(/^invalid service configuration \(9 problems\):\n/);
    expect(e.message).toContain('UAE_GRPC_PORT="70000": must be an integer gRPC port 0–65535 (0 = any free port)');
    expect(e.message).toContain('UAE_METRICS_PORT="abc": must be an integer metrics port');
    expect(e.message).toContain('UAE_LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent');
    expect(e.message).toContain('UAE_NATS_URL="http://x:4222": must be a comma-separated list of nats://');
    expect(e.message).toContain('UAE_BACKEND="gpu": must be one of auto, tensorflow, wasm, cpu');
    expect(e.message).toContain('UAE_SERVICE_NAME="Attack!": must start with a lower-case letter');
  });

  it('requires the service name when the service gives no default', () => {
    const e = issues({ UAE_AUTH_TOKEN: token }, { grpcPort: 1, metricsPort: 2 });
    expect(e.message).toContain('UAE_SERVICE_NAME: is required');
  });

  describe('auth: exactly one of UAE_AUTH_TOKEN and UAE_AUTH_DISABLED=true', () => {
    it('neither is a start-up error saying so', () => {
      expect(issues({}).message).toContain(
        'UAE_AUTH_TOKEN / UAE_AUTH_DISABLED: neither is set; set UAE_AUTH_TOKEN to the bearer token clients must send, or UAE_AUTH_DISABLED=true',
      );
      expect(issues({ UAE_AUTH_DISABLED: 'false' }).message).toContain('neither is set');
    });
    it('both is an error', () => {
      expect(issues({ UAE_AUTH_TOKEN: token, UAE_AUTH_DISABLED: 'true' }).message).toContain('both are set; set exactly one');
    });
    it('a token with UAE_AUTH_DISABLED=false is fine', () => {
      expect(loadServiceConfig({ UAE_AUTH_TOKEN: token, UAE_AUTH_DISABLED: 'false' }, defaults).auth).toEqual({
        disabled: false,
        token,
      });
    });
    it('rejects vague booleans and short tokens without echoing the token', () => {
      expect(issues({ UAE_AUTH_DISABLED: 'yes' }).message).toContain('UAE_AUTH_DISABLED: must be true or false; got "yes"');
      const e = issues({ UAE_AUTH_TOKEN: 'short' });
      expect(e.message).toContain('UAE_AUTH_TOKEN: must be at least 16 characters with no whitespace (value not shown)');
      expect(e.message).not.toContain('short"');
    });
  });

  it('validates a service schema with the base one and returns its values', () => {
    const extra = z.object({
      UAE_ATTACK_WORKERS: z.coerce.number().int().positive().default(2),
      UAE_ATTACK_MODE: z.enum(['fast', 'exact']),
    });
    const c = loadServiceConfig({ UAE_AUTH_TOKEN: token, UAE_ATTACK_MODE: 'fast' }, defaults, extra);
    expect(c.extra).toEqual({ UAE_ATTACK_WORKERS: 2, UAE_ATTACK_MODE: 'fast' });
    const withSecret = loadServiceConfig(
      { UAE_AUTH_TOKEN: token, UAE_STORE_SECRET_KEY: 'shh-very-secret' },
      defaults,
      z.object({ UAE_STORE_SECRET_KEY: z.string() }),
    );
    expect(withSecret.extra.UAE_STORE_SECRET_KEY).toBe('shh-very-secret');
    expect(describeConfig(withSecret).extra).toEqual({ UAE_STORE_SECRET_KEY: '(hidden)' });
    const workers: number = c.extra.UAE_ATTACK_WORKERS;
    expect(workers).toBe(2);
    try {
      loadServiceConfig({ UAE_GRPC_PORT: 'x', UAE_ATTACK_WORKERS: '-3', UAE_AUTH_TOKEN: token }, defaults, extra);
      throw new Error('expected a ConfigError');
    } catch (e) {
      const vars = (e as ConfigError).issues.map((i) => i.variable.split('=')[0]);
      expect(vars).toEqual(['UAE_GRPC_PORT', 'UAE_ATTACK_WORKERS', 'UAE_ATTACK_MODE']);
    }
  });
});

describe('queue settings shared by every process on one NATS', () => {
  it('reads UAE_ACK_WAIT_MS, UAE_MAX_DELIVER and UAE_NATS_REPLICAS, and names a bad one', () => {
    const base = { UAE_AUTH_DISABLED: 'true' };
    const defaults = { name: 'x', grpcPort: 0, metricsPort: 0 };
    expect(loadServiceConfig(base, defaults).queue).toEqual({});
    const c = loadServiceConfig({ ...base, UAE_ACK_WAIT_MS: '2000', UAE_MAX_DELIVER: '3', UAE_NATS_REPLICAS: '3' }, defaults);
    expect(c.queue).toEqual({ ackWaitMs: 2000, maxDeliver: 3, replicas: 3 });
    expect(c.unknownVariables).toEqual([]);
    expect(() => loadServiceConfig({ ...base, UAE_MAX_DELIVER: '0' }, defaults)).toThrow(/UAE_MAX_DELIVER="0": must be an integer number of deliveries in \[1, 100\]/);
  });
});

describe('resource budgets (libs/limits)', () => {
  it('defaults to DEFAULT_BUDGET and reads UAE_MAX_PARAMETERS / _TENSOR_ELEMENTS / _TRAIN_STEPS', async () => {
    const { DEFAULT_BUDGET } = await import('../../libs/limits/index.js');
    expect(loadServiceConfig({ UAE_AUTH_TOKEN: token }, defaults).budget).toEqual(DEFAULT_BUDGET);
    const c = loadServiceConfig({ UAE_AUTH_TOKEN: token, UAE_MAX_PARAMETERS: '1_000_000', UAE_MAX_TENSOR_ELEMENTS: '5', UAE_MAX_TRAIN_STEPS: '7' }, defaults);
    expect(c.budget).toEqual({ maxParameters: 1_000_000, maxTensorElements: 5, maxTrainSteps: 7 });
    const err = issues({ UAE_AUTH_TOKEN: token, UAE_MAX_PARAMETERS: '0', UAE_MAX_TRAIN_STEPS: 'lots' });
    expect(err.issues.map((i) => i.variable)).toEqual(['UAE_MAX_PARAMETERS="0"', 'UAE_MAX_TRAIN_STEPS="lots"']);
  });
});
