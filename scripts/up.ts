/**
 * `npm run up`: a local cluster — a nats-server (JetStream, file storage
 * under .uae/cluster/nats) and every service that exists under services/
 * (mine-estimator, trainer, evaluator, attack-optimizer, orchestrator) as
 * background processes, each on its default ports when free (else any free
 * port), logging to .uae/cluster/logs/<name>.log. Prints one line per process
 *
 *   nats nats://127.0.0.1:4222 monitor http://127.0.0.1:8222
 *   attack-optimizer grpc 127.0.0.1:50052 metrics 127.0.0.1:9462
 *
 * and writes .uae/cluster/state.json (pids, addresses, the generated bearer
 * token) for `npm run down`. The orchestrator gets UAE_TRAINER_ADDR and
 * UAE_EVALUATOR_ADDR of the trainer and evaluator started here.
 *
 *   npm run up                        # token auth (a fresh token in state.json and .uae/cluster/token)
 *   npm run up -- --no-auth           # UAE_AUTH_DISABLED=true
 *   npm run up -- --random-ports      # every port chosen by the OS
 *   npm run up -- --host 0.0.0.0      # bind address (default 127.0.0.1)
 *   npm run up -- --tls               # TLS and role tokens (or UAE_UP_TLS=true): see below
 *
 * With --tls, openssl makes a throw-away CA and a server certificate for
 * localhost, 127.0.0.1 and --host under .uae/cluster/tls/ (ca.pem, server.pem,
 * server.key), and .uae/cluster/tokens holds one fresh token per role
 * ("read …", "submit …", "admin …"; docs/service-kit.md). Every service gets
 * UAE_TLS_CERT / UAE_TLS_KEY (TLS on its server), UAE_TLS_CA (the
 * orchestrator's calls to the trainer and evaluator verify it) and
 * UAE_AUTH_TOKENS_FILE; .uae/cluster/token is the submit token. It prints
 * how to use them (`uae submit --tls-ca … --token …`).
 *
 * Environment: NATS_SERVER_BIN (default: nats-server on PATH, else
 * /usr/sbin/nats-server); UAE_* variables (e.g. UAE_BACKEND, UAE_LOG_LEVEL,
 * UAE_DATA_DIR) are passed to every service; UAE_CLUSTER_DIR moves .uae/cluster.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { alive, CLUSTER_DIR, readState, sleep, STATE_FILE, stopProcess, type ClusterState, type ProcessEntry } from './cluster-state.js';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

/** Services in start order, with their default ports (services/<name>/main.ts). */
const SERVICES = [
  { name: 'mine-estimator', grpc: 50051, metrics: 9461 },
  { name: 'trainer', grpc: 50053, metrics: 9463 },
  { name: 'evaluator', grpc: 50054, metrics: 9464 },
  { name: 'attack-optimizer', grpc: 50052, metrics: 9462 },
  { name: 'orchestrator', grpc: 50050, metrics: 9460 },
] as const;

interface Options {
  auth: boolean;
  tls: boolean;
  randomPorts: boolean;
  host: string;
  readyTimeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { auth: true, tls: process.env.UAE_UP_TLS === 'true', randomPorts: false, host: '127.0.0.1', readyTimeoutMs: 120_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-auth') o.auth = false;
    else if (a === '--tls') o.tls = true;
    else if (a === '--random-ports') o.randomPorts = true;
    else if (a === '--host') o.host = argv[++i] ?? fail('--host needs a value');
    else if (a === '--timeout') o.readyTimeoutMs = Number(argv[++i]) * 1000 || fail('--timeout needs seconds');
    else if (a === '-h' || a === '--help') {
      console.log('usage: npm run up -- [--tls] [--no-auth] [--random-ports] [--host HOST] [--timeout SECONDS]');
      process.exit(0);
    } else fail(`unknown option ${a} (try --help)`);
  }
  return o;
}

function fail(message: string): never {
  console.error(`up: ${message}`);
  process.exit(2);
}

function natsBinary(): string {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  return fail('no nats-server found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolvePort(false));
    srv.listen(port, host, () => srv.close(() => resolvePort(true)));
  });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolvePort(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** The preferred port when it is free (and not --random-ports); else 0 for a service (it picks and reports one). */
async function choosePort(preferred: number, o: Options): Promise<number> {
  if (!o.randomPorts && (await portFree(preferred, o.host))) return preferred;
  return 0;
}

/**
 * A throw-away CA and a server certificate (EC P-256, 30 days) for the
 * local cluster, made with openssl; every service presents the same one.
 */
function makeClusterPki(dir: string, host: string): { caFile: string; certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const openssl = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      fail(`openssl ${args[0]} failed (is openssl installed?): ${stderr || (e as Error).message}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=uae local cluster CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1']);
  if (host !== '0.0.0.0' && host !== '::') names.add(isIP(host) ? `IP:${host}` : `DNS:${host}`);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${[...names].join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '30', '-extfile', 'server.ext']);
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

const dialable = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const existing = readState();
  if (existing && [existing.nats, ...existing.services].some((p) => alive(p.pid, p.match))) {
    fail(`a cluster is already up (${STATE_FILE}); run npm run down first`);
  }
  const logs = join(CLUSTER_DIR, 'logs');
  const storeDir = join(CLUSTER_DIR, 'nats');
  mkdirSync(logs, { recursive: true });
  mkdirSync(storeDir, { recursive: true });

  const started: ProcessEntry[] = [];
  const abort = async (message: string): Promise<never> => {
    console.error(`up: ${message}`);
    for (const p of [...started].reverse()) await stopProcess(p.pid, p.match, 5000);
    process.exit(1);
  };

  // nats-server
  // nats-server needs concrete ports: its defaults when free, else free ones.
  const realNatsPort = (await choosePort(4222, o)) || (await freePort(o.host));
  const realMonitor = (await choosePort(8222, o)) || (await freePort(o.host));
  const natsLog = join(logs, 'nats.log');
  const natsFd = openSync(natsLog, 'a');
  const nats = spawn(natsBinary(), ['-js', '-sd', storeDir, '-p', String(realNatsPort), '-a', o.host, '-m', String(realMonitor)], {
    detached: true,
    stdio: ['ignore', natsFd, natsFd],
  });
  closeSync(natsFd);
  nats.unref();
  const natsEntry = { pid: nats.pid!, match: 'nats-server', log: natsLog };
  started.push(natsEntry);
  const monitorUrl = `http://${dialable(o.host)}:${realMonitor}`;
  const natsUrl = `nats://${dialable(o.host)}:${realNatsPort}`;
  const natsDeadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${monitorUrl}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      // not yet
    }
    if (!alive(nats.pid!, 'nats-server')) await abort(`nats-server exited; see ${natsLog}`);
    if (Date.now() > natsDeadline) await abort(`nats-server not healthy within 15 s; see ${natsLog}`);
    await sleep(100);
  }
  console.log(`nats ${natsUrl} monitor ${monitorUrl}`);

  const newToken = () => `uae-${randomBytes(24).toString('base64url')}`;
  // --tls: a local CA and server certificate, and one token per role (read < submit < admin).
  const tls = o.tls ? makeClusterPki(join(CLUSTER_DIR, 'tls'), o.host) : undefined;
  const roles = o.tls && o.auth ? { read: newToken(), submit: newToken(), admin: newToken() } : undefined;
  const tokensFile = join(CLUSTER_DIR, 'tokens');
  if (roles) writeFileSync(tokensFile, `# npm run up --tls: <role> <token>\n${Object.entries(roles).map(([r, t]) => `${r} ${t}`).join('\n')}\n`, { mode: 0o600 });
  const token = roles ? roles.submit : o.auth ? newToken() : undefined;
  const secure: Record<string, string> = tls ? { UAE_TLS_CERT: tls.certFile, UAE_TLS_KEY: tls.keyFile, UAE_TLS_CA: tls.caFile } : {};
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('UAE_') && k !== 'UAE_CLUSTER_DIR' && v !== undefined)) as Record<string, string>;
  const services: ClusterState['services'] = [];

  const startService = async (name: string, ports: { grpc: number; metrics: number }, extra: Record<string, string> = {}) => {
    const entry = join('services', name, 'main.ts');
    const log = join(logs, `${name}.log`);
    const outFile = join(logs, `${name}.out`);
    writeFileSync(outFile, '');
    const out = openSync(outFile, 'a');
    const err = openSync(log, 'a');
    const env: Record<string, string> = {
      ...(Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UAE_'))) as Record<string, string>),
      ...inherited,
      UAE_NATS_URL: natsUrl,
      UAE_GRPC_HOST: o.host,
      UAE_GRPC_PORT: String(await choosePort(ports.grpc, o)),
      UAE_METRICS_HOST: o.host,
      UAE_METRICS_PORT: String(await choosePort(ports.metrics, o)),
      ...(roles ? { UAE_AUTH_TOKENS_FILE: tokensFile } : token ? { UAE_AUTH_TOKEN: token } : { UAE_AUTH_DISABLED: 'true' }),
      ...secure,
      ...extra,
    };
    if (token) delete env.UAE_AUTH_DISABLED;
    if (!token || roles) delete env.UAE_AUTH_TOKEN;
    if (!roles) delete env.UAE_AUTH_TOKENS_FILE;
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, detached: true, stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    child.unref();
    const p = { pid: child.pid!, match: entry, log };
    started.push(p);
    return { name, ...p, outFile };
  };

  const waitReady = async (s: Awaited<ReturnType<typeof startService>>) => {
    const re = new RegExp(`^${s.name} grpc (\\S+) metrics (\\S+)$`, 'm');
    const deadline = Date.now() + o.readyTimeoutMs;
    for (;;) {
      const m = re.exec(readFileSync(s.outFile, 'utf8'));
      if (m) {
        const line = `${s.name} grpc ${m[1]} metrics ${m[2]}`;
        console.log(line);
        services.push({ name: s.name, pid: s.pid, match: s.match, log: s.log, grpc: m[1]!, metrics: m[2]! });
        return;
      }
      if (!alive(s.pid, s.match)) await abort(`${s.name} exited before it was ready; see ${s.log}`);
      if (Date.now() > deadline) await abort(`${s.name} not ready within ${o.readyTimeoutMs / 1000} s; see ${s.log}`);
      await sleep(100);
    }
  };

  const exists = (name: string) => existsSync(join(ROOT, 'services', name, 'main.ts'));
  const first = SERVICES.filter((s) => s.name !== 'orchestrator' && s.name !== 'attack-optimizer' && exists(s.name));
  const launched = [];
  for (const s of first) launched.push(await startService(s.name, s));
  for (const s of launched) await waitReady(s);
  // The attack worker and the orchestrator last: the orchestrator needs the trainer's and evaluator's addresses.
  const addr = (name: string) => services.find((s) => s.name === name)?.grpc;
  const rest = [];
  if (exists('attack-optimizer')) rest.push(await startService('attack-optimizer', SERVICES[3]));
  if (exists('orchestrator')) {
    const trainer = addr('trainer');
    const evaluator = addr('evaluator');
    rest.push(await startService('orchestrator', SERVICES[4], trainer && evaluator ? { UAE_TRAINER_ADDR: trainer, UAE_EVALUATOR_ADDR: evaluator } : {}));
  }
  for (const s of rest) await waitReady(s);

  const state: ClusterState = {
    startedAt: new Date().toISOString(),
    host: o.host,
    ...(token ? { token } : {}),
    authDisabled: !token,
    ...(tls ? { tls } : {}),
    ...(roles ? { tokensFile } : {}),
    nats: { ...natsEntry, url: natsUrl, monitor: monitorUrl, storeDir },
    services,
  };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  if (token) writeFileSync(join(CLUSTER_DIR, 'token'), token + '\n', { mode: 0o600 });
  console.log(`state ${STATE_FILE}${token ? ` (bearer token in ${join(CLUSTER_DIR, 'token')})` : ' (authentication disabled)'}; stop with npm run down`);
  if (tls) {
    const server = addr('orchestrator') ?? '127.0.0.1:50050';
    console.log(`tls ca ${tls.caFile} (server certificate ${tls.certFile}, key ${tls.keyFile})`);
    if (roles) console.log(`tokens ${tokensFile} (read, submit, admin; the submit token is also in ${join(CLUSTER_DIR, 'token')})`);
    console.log(`use: npx uae submit --server ${server} --tls-ca ${tls.caFile}${token ? ` --token "$(cat ${join(CLUSTER_DIR, 'token')})"` : ''} --config examples/pipeline-mice.json --watch`);
    console.log(`  or: export UAE_TLS_CA=${tls.caFile}${token ? ` UAE_AUTH_TOKEN=$(cat ${join(CLUSTER_DIR, 'token')})` : ''}; npx uae jobs --server ${server}`);
  }
}

main().catch((e: unknown) => {
  console.error(`up: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
