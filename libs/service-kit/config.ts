/**
 * Service configuration from the environment, validated once at start-up.
 *
 * Every problem is collected and reported in one `ConfigError` whose message
 * names each bad variable and why it is bad, so an operator fixes a deployment
 * in one round instead of one variable per crash. Secrets are never echoed.
 *
 * Empty values count as unset (compose files and Helm charts often render
 * `FOO=`), so a blank optional variable takes its default.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_BUDGET, type ResourceBudget } from '../limits/index.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Mirrors libs/tensor/backend.ts (BACKEND_NAMES plus 'auto'); repeated here so
 * reading the configuration never loads tfjs.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu', 'webgpu'] as const;
export type BackendChoiceName = (typeof BACKEND_CHOICES)[number];

export const MIN_TOKEN_LENGTH = 16;

/** Per-service defaults supplied by the service's entry point. */
export interface ServiceDefaults {
  /** Default for UAE_SERVICE_NAME; without one the variable is required. */
  name?: string;
  /** Default for UAE_GRPC_PORT. */
  grpcPort: number;
  /** Default for UAE_METRICS_PORT. */
  metricsPort: number;
}

export type AuthConfig =
  | { readonly disabled: false; readonly token: string; readonly tokensFile?: undefined }
  | { readonly disabled: false; readonly tokensFile: string; readonly token?: undefined }
  | { readonly disabled: true };

export interface ServiceConfig {
  /** UAE_SERVICE_NAME: lower-case, digits and dashes (used in logs and health). */
  serviceName: string;
  /** UAE_GRPC_HOST (default 0.0.0.0) and UAE_GRPC_PORT (0 = any free port). */
  grpc: { host: string; port: number };
  /** UAE_METRICS_HOST (default 0.0.0.0) and UAE_METRICS_PORT (0 = any free port). */
  metrics: { host: string; port: number };
  /** UAE_NATS_URL split on commas; empty when unset. */
  natsServers: string[];
  /** 'nats' when UAE_NATS_URL is set, else 'embedded' (in-process bus). */
  busMode: 'nats' | 'embedded';
  /** UAE_AUTH_TOKEN / UAE_AUTH_DISABLED=true: exactly one must be given. */
  auth: AuthConfig;
  /** UAE_LOG_LEVEL (default info). */
  logLevel: LogLevel;
  /** UAE_DATA_DIR resolved to an absolute path; undefined when unset. */
  dataDir: string | undefined;
  /** UAE_BACKEND (default auto); only services that use tfjs act on it. */
  backend: BackendChoiceName;
  /** UAE_SHUTDOWN_TIMEOUT_MS (default 10000): graceful drain before force. */
  shutdownTimeoutMs: number;
  /**
   * Work-queue settings every process on one NATS must agree on, because
   * connectBus applies them to the one durable consumer all workers share:
   * UAE_ACK_WAIT_MS, UAE_MAX_DELIVER, UAE_NATS_REPLICAS (stream/KV replicas).
   */
  queue: { ackWaitMs?: number; maxDeliver?: number; replicas?: number };
  /**
   * Resource budgets requests are checked against before allocating
   * (libs/limits): UAE_MAX_PARAMETERS, UAE_MAX_TENSOR_ELEMENTS,
   * UAE_MAX_TRAIN_STEPS; defaults DEFAULT_BUDGET.
   */
  budget: ResourceBudget;
  /**
   * TLS (files, read when the server binds): UAE_TLS_CERT + UAE_TLS_KEY turn
   * it on; UAE_TLS_CLIENT_CA also requires and verifies client certificates
   * (mTLS). UAE_TLS_CA: the CA for this service's own outgoing calls to other
   * uae services (they then use TLS, presenting cert/key when given).
   */
  tls: { certFile: string; keyFile: string; clientCaFile?: string } | undefined;
  tlsCaFile: string | undefined;
  /** UAE_* variables present in the environment that nothing declared (likely typos). */
  unknownVariables: string[];
}

export interface ConfigIssue {
  /** The variable (or "A / B" for a rule about two of them). */
  variable: string;
  reason: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `invalid service configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${i.variable}: ${i.reason}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Variables read elsewhere in the code base, so not reported as unknown. */
const OTHER_KNOWN = new Set(['UAE_ADAM_UPDATE', 'UAE_TEST_BACKEND']);
const SECRET = new Set(['UAE_AUTH_TOKEN']);

const SERVICE_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

function port(what: string) {
  return z
    .string()
    .refine((s) => /^\d{1,5}$/.test(s) && Number(s) <= 65535, {
      message: `must be an integer ${what} port 0–65535 (0 = any free port)`,
    })
    .transform(Number);
}

const host = z
  .string()
  .refine((s) => /^[A-Za-z0-9.:\-[\]%]+$/.test(s), { message: 'must be a host name or IP address' })
  .transform((s) => s.replace(/^\[(.*)\]$/, '$1'));

const NATS_SCHEMES = new Set(['nats:', 'tls:', 'ws:', 'wss:']);

function validNatsServer(s: string): boolean {
  try {
    const u = new URL(s.includes('://') ? s : `nats://${s}`);
    return NATS_SCHEMES.has(u.protocol) && u.hostname !== '';
  } catch {
    return false;
  }
}

const natsUrl = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
  .refine((list) => list.length > 0 && list.every(validNatsServer), {
    message: 'must be a comma-separated list of nats://, tls://, ws:// or wss:// URLs (or host:port)',
  });

function baseShape(defaults: ServiceDefaults) {
  const serviceName = z
    .string({ error: 'is required (no default for this service)' })
    .refine((s) => SERVICE_NAME_RE.test(s), {
      message: 'must start with a lower-case letter and contain only a-z, 0-9 and "-" (at most 63 characters)',
    });
  return {
    UAE_SERVICE_NAME: defaults.name === undefined ? serviceName : serviceName.default(defaults.name),
    UAE_GRPC_HOST: host.default('0.0.0.0'),
    UAE_GRPC_PORT: port('gRPC').default(defaults.grpcPort),
    UAE_METRICS_HOST: host.default('0.0.0.0'),
    UAE_METRICS_PORT: port('metrics').default(defaults.metricsPort),
    UAE_NATS_URL: natsUrl.optional(),
    UAE_LOG_LEVEL: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }))
      .default('info'),
    UAE_DATA_DIR: z.string().transform((s) => (isAbsolute(s) ? s : resolve(s))).optional(),
    UAE_BACKEND: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(BACKEND_CHOICES, { error: `must be one of ${BACKEND_CHOICES.join(', ')}` }))
      .default('auto'),
    UAE_SHUTDOWN_TIMEOUT_MS: z
      .string()
      .refine((s) => /^\d{1,9}$/.test(s), { message: 'must be a non-negative integer number of milliseconds' })
      .transform(Number)
      .default(10_000),
    UAE_ACK_WAIT_MS: boundedInt('milliseconds', 100, 3_600_000).optional(),
    UAE_MAX_DELIVER: boundedInt('deliveries', 1, 100).optional(),
    UAE_NATS_REPLICAS: boundedInt('replicas', 1, 5).optional(),
    UAE_TLS_CERT: readableFile.optional(),
    UAE_TLS_KEY: readableFile.optional(),
    UAE_TLS_CLIENT_CA: readableFile.optional(),
    UAE_TLS_CA: readableFile.optional(),
    UAE_MAX_PARAMETERS: budgetInt().default(DEFAULT_BUDGET.maxParameters),
    UAE_MAX_TENSOR_ELEMENTS: budgetInt().default(DEFAULT_BUDGET.maxTensorElements),
    UAE_MAX_TRAIN_STEPS: budgetInt().default(DEFAULT_BUDGET.maxTrainSteps),
  };
}

const readableFile = z
  .string()
  .transform((s) => (isAbsolute(s) ? s : resolve(s)))
  .refine(
    (p) => {
      try {
        accessSync(p, fsConstants.R_OK);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must name a readable file (PEM)' },
  );

function budgetInt() {
  return z
    .string()
    .refine((s) => /^[1-9]\d{0,14}$/.test(s.replace(/_/g, '')), { message: 'must be a positive integer (at most 15 digits; _ separators allowed)' })
    .transform((s) => Number(s.replace(/_/g, '')));
}

function boundedInt(what: string, min: number, max: number) {
  return z
    .string()
    .refine((s) => /^\d{1,9}$/.test(s) && Number(s) >= min && Number(s) <= max, { message: `must be an integer number of ${what} in [${min}, ${max}]` })
    .transform(Number);
}

/** The variables loadServiceConfig reads itself (besides an extra schema's). */
export const SERVICE_ENV_VARS = [
  ...Object.keys(baseShape({ grpcPort: 0, metricsPort: 0 })),
  'UAE_AUTH_TOKEN',
  'UAE_AUTH_TOKENS_FILE',
  'UAE_AUTH_DISABLED',
] as const;

function authFrom(env: Record<string, string | undefined>, issues: ConfigIssue[]): AuthConfig | undefined {
  const file = env.UAE_AUTH_TOKENS_FILE;
  if (file !== undefined) {
    if (env.UAE_AUTH_TOKEN !== undefined || env.UAE_AUTH_DISABLED?.toLowerCase() === 'true') {
      issues.push({ variable: 'UAE_AUTH_TOKENS_FILE', reason: 'set only one of UAE_AUTH_TOKEN, UAE_AUTH_TOKENS_FILE and UAE_AUTH_DISABLED=true' });
      return undefined;
    }
    const path = isAbsolute(file) ? file : resolve(file);
    try {
      accessSync(path, fsConstants.R_OK);
    } catch {
      issues.push({ variable: `UAE_AUTH_TOKENS_FILE=${JSON.stringify(file)}`, reason: 'must name a readable file of "<role> <token>" lines' });
      return undefined;
    }
    return { disabled: false, tokensFile: path };
  }
  const token = env.UAE_AUTH_TOKEN;
  const disabledRaw = env.UAE_AUTH_DISABLED;
  let disabled: boolean | undefined;
  if (disabledRaw !== undefined) {
    const v = disabledRaw.toLowerCase();
    if (v === 'true') disabled = true;
    else if (v === 'false') disabled = false;
    else {
      issues.push({ variable: 'UAE_AUTH_DISABLED', reason: `must be true or false; got "${disabledRaw}"` });
      return undefined;
    }
  }
  if (token !== undefined && disabled === true) {
    issues.push({
      variable: 'UAE_AUTH_TOKEN / UAE_AUTH_DISABLED',
      reason: 'both are set; set exactly one (a token to require it, or UAE_AUTH_DISABLED=true to run without authentication)',
    });
    return undefined;
  }
  if (token === undefined) {
    if (disabled === true) return { disabled: true };
    issues.push({
      variable: 'UAE_AUTH_TOKEN / UAE_AUTH_DISABLED',
      reason:
        'neither is set; set UAE_AUTH_TOKEN to the bearer token clients must send, ' +
        'or UAE_AUTH_DISABLED=true to turn authentication off explicitly',
    });
    return undefined;
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    issues.push({
      variable: 'UAE_AUTH_TOKEN',
      reason: `must be at least ${MIN_TOKEN_LENGTH} characters with no whitespace (value not shown)`,
    });
    return undefined;
  }
  return { disabled: false, token };
}

/** Empty or whitespace-only values count as unset; others are trimmed. */
function normalise(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const t = k === 'UAE_AUTH_TOKEN' ? v : v.trim();
    if (t.trim() !== '') out[k] = t;
  }
  return out;
}

function shown(variable: string, env: Record<string, string | undefined>): string {
  const v = env[variable];
  if (v === undefined) return variable;
  if (SECRET.has(variable)) return variable;
  const short = v.length > 80 ? `${v.slice(0, 77)}...` : v;
  return `${variable}=${JSON.stringify(short)}`;
}

/**
 * Read and validate the service configuration.
 *
 * @param env        usually `process.env`
 * @param defaults   the service's name and default ports
 * @param extra      a zod object keyed by further variable names the service
 *                   needs (for example `UAE_ATTACK_WORKERS`); its problems are
 *                   reported together with the base ones and its parsed
 *                   values come back as `extra`.
 * @throws ConfigError listing every bad variable with the reason.
 */
export function loadServiceConfig<E extends z.ZodObject = z.ZodObject<{}>>(
  env: Record<string, string | undefined>,
  defaults: ServiceDefaults,
  extra?: E,
): ServiceConfig & { extra: z.output<E> } {
  const vars = normalise(env);
  const issues: ConfigIssue[] = [];
  const shape = { ...baseShape(defaults), ...(extra?.shape ?? {}) };
  const parsed = z.object(shape).safeParse(vars);
  if (!parsed.success) {
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? '(environment)');
      const sub = issue.path.slice(1).map(String).join('.');
      const key = `${variable}\u0000${sub}\u0000${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({
        variable: shown(variable, vars),
        reason: sub ? `${sub}: ${issue.message}` : issue.message,
      });
    }
  }
  const auth = authFrom(vars, issues);
  if ((vars.UAE_TLS_CERT === undefined) !== (vars.UAE_TLS_KEY === undefined)) {
    issues.push({ variable: 'UAE_TLS_CERT / UAE_TLS_KEY', reason: 'set both (the certificate chain and its private key) or neither' });
  }
  if (vars.UAE_TLS_CLIENT_CA !== undefined && vars.UAE_TLS_CERT === undefined) {
    issues.push({ variable: 'UAE_TLS_CLIENT_CA', reason: 'client certificates (mTLS) need TLS: set UAE_TLS_CERT and UAE_TLS_KEY too' });
  }
  if (issues.length > 0 || !parsed.success || auth === undefined) throw new ConfigError(issues);

  const v = parsed.data as Record<string, unknown>;
  const declared = new Set<string>([...SERVICE_ENV_VARS, ...Object.keys(extra?.shape ?? {}), ...OTHER_KNOWN]);
  const unknownVariables = Object.keys(env)
    .filter((k) => k.startsWith('UAE_') && !declared.has(k))
    .sort();
  const natsServers = (v.UAE_NATS_URL as string[] | undefined) ?? [];
  const extraValues: Record<string, unknown> = {};
  for (const k of Object.keys(extra?.shape ?? {})) extraValues[k] = v[k];
  return {
    serviceName: v.UAE_SERVICE_NAME as string,
    grpc: { host: v.UAE_GRPC_HOST as string, port: v.UAE_GRPC_PORT as number },
    metrics: { host: v.UAE_METRICS_HOST as string, port: v.UAE_METRICS_PORT as number },
    natsServers,
    busMode: natsServers.length > 0 ? 'nats' : 'embedded',
    auth,
    logLevel: v.UAE_LOG_LEVEL as LogLevel,
    dataDir: v.UAE_DATA_DIR as string | undefined,
    backend: v.UAE_BACKEND as BackendChoiceName,
    shutdownTimeoutMs: v.UAE_SHUTDOWN_TIMEOUT_MS as number,
    queue: {
      ...(v.UAE_ACK_WAIT_MS !== undefined ? { ackWaitMs: v.UAE_ACK_WAIT_MS as number } : {}),
      ...(v.UAE_MAX_DELIVER !== undefined ? { maxDeliver: v.UAE_MAX_DELIVER as number } : {}),
      ...(v.UAE_NATS_REPLICAS !== undefined ? { replicas: v.UAE_NATS_REPLICAS as number } : {}),
    },
    tls:
      v.UAE_TLS_CERT !== undefined && v.UAE_TLS_KEY !== undefined
        ? {
            certFile: v.UAE_TLS_CERT as string,
            keyFile: v.UAE_TLS_KEY as string,
            ...(v.UAE_TLS_CLIENT_CA !== undefined ? { clientCaFile: v.UAE_TLS_CLIENT_CA as string } : {}),
          }
        : undefined,
    tlsCaFile: v.UAE_TLS_CA as string | undefined,
    budget: {
      maxParameters: v.UAE_MAX_PARAMETERS as number,
      maxTensorElements: v.UAE_MAX_TENSOR_ELEMENTS as number,
      maxTrainSteps: v.UAE_MAX_TRAIN_STEPS as number,
    },
    unknownVariables,
    extra: extraValues as z.output<E>,
  };
}

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY/i;

/**
 * The configuration for start-up logs: the token replaced, and any extra
 * variable whose name looks secret (…TOKEN, …SECRET, …PASSWORD, …KEY) hidden.
 */
export function describeConfig(config: ServiceConfig & { extra?: unknown }): Record<string, unknown> {
  const { auth, extra, ...rest } = config;
  const out: Record<string, unknown> = {
    ...rest,
    auth: auth.disabled ? 'disabled' : auth.tokensFile !== undefined ? `role tokens from ${auth.tokensFile}` : 'bearer token (hidden)',
  };
  if (extra && typeof extra === 'object') {
    out.extra = Object.fromEntries(
      Object.entries(extra).map(([k, v]) => [k, SECRET_NAME.test(k) && v !== undefined ? '(hidden)' : v]),
    );
  }
  return out;
}
