/**
 * `npm run bench:prepare-device`: the files bench/device.sh needs on a GPU
 * host that has no network, in one git-ignored folder, `.device/`:
 *
 *   app.tar.xz     dist/ (the compiled bench and libs, as `npm run build` and
 *                  deploy/docker/stage-dist.sh lay them out) and node_modules
 *                  from `npm ci --omit=dev`, pruned for linux-x64
 *                  (scripts/device-payload.ts says what goes and why)
 *   node.xz        this machine's node binary, for hosts without Node ≥ 20
 *                  (`--no-node` leaves it out)
 *   lib/           the Vulkan loader (libvulkan.so.1), for hosts whose image
 *                  lacks it (dawn.node dlopens it; the GPU's own driver is the
 *                  host's)
 *   manifest.json  what is in it, sizes, the commit and the Node version
 *
 * The working tree travels with it; both together must stay within 64 MiB
 * (checked here, printed by bench/device.sh). Needs the npm cache of a
 * previous `npm ci` (it installs with --prefer-offline), xz, and the Vulkan
 * loader here (installed, or unpacked by `npm run setup:webgpu`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { DEVICE_PAYLOAD_LIMIT_BYTES, pruneNodeModules, treeBytes } from './device-payload.js';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const OUT = join(ROOT, '.device');
const VULKAN_LOADERS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', join(ROOT, '.cache/lavapipe/root/usr/lib/x86_64-linux-gnu/libvulkan.so.1')];

const opts = new Command()
  .description('prepare .device/ for bench/device.sh on an air-gapped GPU host')
  .option('--no-node', 'leave the node binary out (the host has Node ≥ 20)')
  .parse()
  .opts<{ node: boolean }>();

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function log(line: string): void {
  console.log(`prepare-device: ${line}`);
}

function run(cmd: string, args: string[], cwd = ROOT): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, XZ_OPT: '-6 -T0' } });
}

/** xz -6 of one file, streamed. */
async function xz(src: string, dest: string): Promise<void> {
  const child = spawn('xz', ['-6', '-T0', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<void>((ok, fail) => child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`xz exited ${code}`)))));
  await Promise.all([pipeline(createReadStream(src), child.stdin), pipeline(child.stdout, createWriteStream(dest)), done]);
}

function trackedBytes(): number {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  return files.reduce((sum, f) => sum + (existsSync(join(ROOT, f)) ? statSync(join(ROOT, f)).size : 0), 0);
}

async function main(): Promise<void> {
  const loader = VULKAN_LOADERS.find((p) => existsSync(p));
  if (!loader) throw new Error(`no Vulkan loader (libvulkan.so.1) here: apt-get install libvulkan1, or run npm run setup:webgpu`);
  const stage = mkdtempSync(join(tmpdir(), 'uae-device-'));
  try {
    const app = join(stage, 'app');
    mkdirSync(app);
    log('compiling dist/ (tsc) …');
    run('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', join(app, 'dist'), '--sourceMap', 'false']);
    run('sh', ['deploy/docker/stage-dist.sh', ROOT, join(app, 'dist')]);
    // The benchmark needs the libraries and itself; the compiled tests and services stay here.
    for (const dir of ['tests', 'scripts', 'services']) rmSync(join(app, 'dist', dir), { recursive: true, force: true });
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(app, f));
    cpSync(join(ROOT, 'libs/data/bundled'), join(app, 'libs/data/bundled'), { recursive: true });
    log('npm ci --omit=dev (offline, from the npm cache) …');
    run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], app);
    const before = treeBytes(join(app, 'node_modules'));
    const pruned = pruneNodeModules(join(app, 'node_modules'), 'linux-x64');
    log(`node_modules: ${mib(before)} from npm ci --omit=dev, ${mib(pruned.keptBytes)} after pruning (${pruned.removedFiles} files removed)`);

    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(join(OUT, 'lib'), { recursive: true });
    log('packing app.tar.xz …');
    run('tar', ['-C', stage, '-cJf', join(OUT, 'app.tar.xz'), 'app']);
    copyFileSync(realpathSync(loader), join(OUT, 'lib', 'libvulkan.so.1'));
    if (opts.node) {
      log(`compressing node ${process.version} …`);
      await xz(process.execPath, join(OUT, 'node.xz'));
    }
    const payload = treeBytes(OUT);
    const tree = trackedBytes();
    const manifest = {
      kind: 'uae.device-payload',
      commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(),
      node: opts.node ? process.version : null,
      platform: 'linux-x64',
      bytes: { payload, working_tree: tree, total: payload + tree, limit: DEVICE_PAYLOAD_LIMIT_BYTES, node_modules_npm_ci: before, node_modules_pruned: pruned.keptBytes },
      files: Object.fromEntries(['app.tar.xz', 'node.xz', 'lib/libvulkan.so.1'].filter((f) => existsSync(join(OUT, f))).map((f) => [f, statSync(join(OUT, f)).size])),
    };
    writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    log(`.device/: ${mib(payload)}; with the working tree (${mib(tree)}): ${mib(payload + tree)} of ${mib(DEVICE_PAYLOAD_LIMIT_BYTES)}`);
    if (payload + tree > DEVICE_PAYLOAD_LIMIT_BYTES) throw new Error(`payload and working tree are ${mib(payload + tree)}, over ${mib(DEVICE_PAYLOAD_LIMIT_BYTES)}`);
    log('then: bench/device.sh (on the host, from the repository root, with .device/ beside it)');
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(`prepare-device: ${e.message}`);
  process.exit(1);
});
