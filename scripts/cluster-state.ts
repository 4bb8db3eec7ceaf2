/**
 * The local cluster's state file (`npm run up` writes it, `npm run down`
 * reads it): .uae/cluster/state.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const CLUSTER_DIR = resolve(process.env.UAE_CLUSTER_DIR ?? join('.uae', 'cluster'));
export const STATE_FILE = join(CLUSTER_DIR, 'state.json');

export interface ProcessEntry {
  pid: number;
  /** What identifies the process in /proc/<pid>/cmdline (guards against pid reuse). */
  match: string;
  log: string;
}

export interface ClusterState {
  startedAt: string;
  host: string;
  /** Bearer token the services require (absent with authDisabled). */
  token?: string;
  authDisabled: boolean;
  /** `npm run up -- --tls`: the cluster's CA and the server certificate every service presents. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** `npm run up -- --tls`: the role tokens file (UAE_AUTH_TOKENS_FILE). */
  tokensFile?: string;
  nats: ProcessEntry & { url: string; monitor: string; storeDir: string };
  /** In start order. */
  services: Array<ProcessEntry & { name: string; grpc: string; metrics: string }>;
}

export function readState(): ClusterState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState;
}

/** True when `pid` runs and its command line contains `match`. */
export function alive(pid: number, match: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(match);
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, match: string, graceMs: number): Promise<'stopped' | 'killed' | 'gone'> {
  if (!alive(pid, match)) return 'gone';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid, match)) return 'stopped';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  for (let i = 0; i < 50 && alive(pid, match); i++) await sleep(100);
  return 'killed';
}
