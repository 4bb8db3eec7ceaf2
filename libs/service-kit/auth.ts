/**
 * Bearer-token authentication and per-RPC roles.
 *
 * Tokens come from UAE_AUTH_TOKEN (one token, role admin) or from
 * UAE_AUTH_TOKENS_FILE, a file (a mounted Kubernetes Secret) of lines
 * `<role> <token>`, `#` comments allowed, several tokens per role allowed (for
 * rotation with overlap). The file is re-read when its modification time,
 * size or inode changes (checked at most once per second, on calls), so a
 * rotated Secret takes effect without a restart; a file that no longer parses
 * keeps the previous tokens and is reported once in the log.
 *
 * Roles are ordered read < submit < admin: a method needs the role its
 * service declares (`methodRoles`, "pkg.Service/Method" or "pkg.Service"),
 * admin when it declares none. A missing, malformed, repeated or unknown
 * token is UNAUTHENTICATED; a known token whose role is too low is
 * PERMISSION_DENIED. Digests are compared with timingSafeEqual against every
 * known token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { MIN_TOKEN_LENGTH, type AuthConfig } from './config.js';
import { Status } from './errors.js';

export const ROLES = ['read', 'submit', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { read: 0, submit: 1, admin: 2 };

/** Required role per "pkg.Service/Method" or "pkg.Service"; anything unlisted needs admin. */
export type MethodRoles = Readonly<Record<string, Role>>;

export type Denial = { code: Status; details: string };

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

interface Entry {
  role: Role;
  digest: Buffer;
  token: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Parses `<role> <token>` lines; throws TokenFileError naming the line. */
export function parseTokens(text: string, source = 'tokens file'): Entry[] {
  const out: Entry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+)\s+(\S+)$/.exec(line);
    if (!m) throw new TokenFileError(`${source} line ${i + 1}: expected "<role> <token>"`);
    const role = m[1]!.toLowerCase();
    if (!(ROLES as readonly string[]).includes(role)) throw new TokenFileError(`${source} line ${i + 1}: unknown role "${m[1]}" (expected ${ROLES.join(', ')})`);
    const token = m[2]!;
    if (token.length < MIN_TOKEN_LENGTH) throw new TokenFileError(`${source} line ${i + 1}: tokens must be at least ${MIN_TOKEN_LENGTH} characters`);
    if (seen.has(token)) throw new TokenFileError(`${source} line ${i + 1}: the same token appears twice`);
    seen.add(token);
    out.push({ role: role as Role, digest: digest(token), token });
  });
  if (out.length === 0) throw new TokenFileError(`${source}: no tokens`);
  return out;
}

/** The tokens of UAE_AUTH_TOKEN or UAE_AUTH_TOKENS_FILE, re-read when the file changes. */
export class TokenSource {
  private entries: Entry[];
  private stamp = '';
  private checkedAt = 0;
  private reported = '';

  constructor(
    private readonly auth: Extract<AuthConfig, { disabled: false }>,
    private readonly opts: { reloadMs?: number; onReload?: (count: number) => void; onError?: (message: string) => void } = {},
  ) {
    if (auth.token !== undefined) this.entries = [{ role: 'admin', digest: digest(auth.token), token: auth.token }];
    else {
      this.entries = [];
      this.reload(true);
    }
  }

  private reload(first: boolean): void {
    const file = this.auth.tokensFile!;
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (e) {
      if (first) throw new TokenFileError(`UAE_AUTH_TOKENS_FILE ${file}: ${(e as Error).message}`);
      this.report(`cannot stat ${file}: ${(e as Error).message}; keeping the previous tokens`);
      return;
    }
    if (stamp === this.stamp) return;
    try {
      this.entries = parseTokens(readFileSync(file, 'utf8'), file);
      this.stamp = stamp;
      this.reported = '';
      if (!first) this.opts.onReload?.(this.entries.length);
    } catch (e) {
      if (first) throw e;
      this.report(`${(e as Error).message}; keeping the previous tokens`);
    }
  }

  private report(message: string): void {
    if (message === this.reported) return;
    this.reported = message;
    this.opts.onError?.(message);
  }

  private fresh(): void {
    if (this.auth.tokensFile === undefined) return;
    const now = Date.now();
    if (now - this.checkedAt < (this.opts.reloadMs ?? 1000)) return;
    this.checkedAt = now;
    this.reload(false);
  }

  /** The role of `token`, or undefined. */
  roleOf(token: string): Role | undefined {
    this.fresh();
    const got = digest(token);
    let role: Role | undefined;
    for (const e of this.entries) if (timingSafeEqual(got, e.digest) && role === undefined) role = e.role;
    return role;
  }

  /** A token for this service's own calls to other uae services: the first admin token. */
  callToken(): string | undefined {
    this.fresh();
    return this.entries.find((e) => e.role === 'admin')?.token;
  }
}

export function requiredRole(roles: MethodRoles, service: string, method: string): Role {
  return roles[`${service}/${method}`] ?? roles[service] ?? 'admin';
}

/**
 * (metadata, service, method) → a denial, or undefined to let the call in.
 * `tokens` may be passed to share one TokenSource (e.g. with callToken users).
 */
export function createAuthenticator(
  auth: AuthConfig,
  opts: { methodRoles?: MethodRoles; tokens?: TokenSource } = {},
): (metadata: grpc.Metadata, service?: string, method?: string) => Denial | undefined {
  if (auth.disabled) return () => undefined;
  const tokens = opts.tokens ?? new TokenSource(auth);
  const roles = opts.methodRoles ?? {};
  return (metadata, service = '', method = '') => {
    const values = metadata.get('authorization');
    if (values.length === 0) {
      return { code: Status.UNAUTHENTICATED, details: 'missing "authorization" metadata: send "authorization: Bearer <token>"' };
    }
    if (values.length > 1) {
      return { code: Status.UNAUTHENTICATED, details: '"authorization" metadata given more than once' };
    }
    const match = typeof values[0] === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(values[0]) : null;
    if (!match) return { code: Status.UNAUTHENTICATED, details: '"authorization" metadata must be "Bearer <token>"' };
    const role = tokens.roleOf(match[1]!);
    if (role === undefined) return { code: Status.UNAUTHENTICATED, details: '"authorization" bearer token is not valid' };
    const needed = requiredRole(roles, service, method);
    if (RANK[role] < RANK[needed]) {
      return { code: Status.PERMISSION_DENIED, details: `this token's role "${role}" may not call ${service}/${method} (it needs "${needed}")` };
    }
    return undefined;
  };
}
