/**
 * `npm run setup:webgpu`: a CPU Vulkan driver (Mesa's lavapipe) for the
 * webgpu backend on a machine without a GPU, so CI can test it.
 *
 * Dawn needs Mesa ≥ 25 (bookworm's own 22.3 lacks two *ArrayDynamicIndexing
 * features: requestAdapter() then answers null), so on Debian bookworm the
 * driver comes from bookworm-backports — without touching the system's APT
 * sources or installed packages: a private APT configuration under
 * .cache/lavapipe/apt (the system's own Debian mirror and keyring, plus
 * -backports) resolves mesa-vulkan-drivers and the Vulkan loader against what
 * is installed, downloads only what is missing or too old, and `dpkg-deb -x`
 * unpacks those .debs into .cache/lavapipe/root. It then writes
 *
 *   .cache/lavapipe/lvp_icd.json   the driver manifest, pointing at the unpacked library
 *   .cache/lavapipe/env.sh         VK_ICD_FILENAMES, LD_LIBRARY_PATH, MESA_SHADER_CACHE_DIR, XDG_RUNTIME_DIR
 *   .cache/lavapipe/env.json       the same variables, for programs and tests
 *
 * and prints the adapter Dawn finds with them. Idempotent: a second run finds
 * the unpacked driver and only probes. `--force` downloads again.
 *
 *   npm run setup:webgpu && . .cache/lavapipe/env.sh && UAE_BACKEND=webgpu npx uae …
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const DIR = join(ROOT, '.cache', 'lavapipe');
const APT = join(DIR, 'apt');
const UNPACKED = join(DIR, 'root');
const LIBDIR = join(UNPACKED, 'usr', 'lib', 'x86_64-linux-gnu');
const STAMP = join(DIR, 'installed.json');
const PACKAGES = ['mesa-vulkan-drivers', 'libvulkan1'];
const MIN_MESA_MAJOR = 25;

function log(line: string): void {
  console.log(`setup:webgpu: ${line}`);
}

function fail(line: string): never {
  console.error(`setup:webgpu: ${line}`);
  process.exit(1);
}

function osRelease(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return out;
}

/** The Debian mirror and keyring the system's own APT sources use (deb822 or one-line format). */
function systemMirror(): { uri: string; signedBy: string } {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').filter((f) => /\.(list|sources)$/.test(f)).map((f) => join('/etc/apt/sources.list.d', f)) : [])];
  for (const file of files.filter((f) => existsSync(f))) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
        const uri = field('URIs')?.split(/\s+/)[0];
        if (uri && /\/debian\/?$/.test(uri) && /\bmain\b/.test(field('Components') ?? '')) {
          return { uri, signedBy: field('Signed-By') ?? '/usr/share/keyrings/debian-archive-keyring.gpg' };
        }
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+\/debian\/?)\s+\S+\s+.*\bmain\b/.exec(line.trim());
        if (m) {
          const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1] ?? '/usr/share/keyrings/debian-archive-keyring.gpg';
          return { uri: m[2]!, signedBy };
        }
      }
    }
  }
  fail('no Debian mirror with the main component in /etc/apt/sources.list or /etc/apt/sources.list.d: cannot tell where to download Mesa from');
}

function aptOptions(): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${join(APT, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(APT, 'lists')}`,
    '-o', `Dir::Cache=${join(APT, 'cache')}`,
    '-o', `Dir::Cache::archives=${join(APT, 'archives')}`,
    '-o', 'APT::Get::List-Cleanup=0',
  ];
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) fail(`${cmd} ${args.filter((a) => !a.startsWith('Dir::') && a !== '-o').join(' ')} failed (${r.status}):\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Downloads and unpacks; returns the .deb files used. */
function install(codename: string): string[] {
  const { uri, signedBy } = systemMirror();
  const suites = codename === 'bookworm' ? [codename, `${codename}-updates`, `${codename}-backports`] : [codename, `${codename}-updates`];
  const target = codename === 'bookworm' ? `${codename}-backports` : codename;
  rmSync(APT, { recursive: true, force: true });
  rmSync(UNPACKED, { recursive: true, force: true });
  for (const d of ['lists/partial', 'cache', 'archives/partial']) mkdirSync(join(APT, d), { recursive: true });
  writeFileSync(join(APT, 'sources.list'), suites.map((s) => `deb [signed-by=${signedBy}] ${uri} ${s} main\n`).join(''));
  log(`private APT sources (${join(APT, 'sources.list')}): ${uri} ${suites.join(', ')}; the system's sources are not changed`);
  run('apt-get', [...aptOptions(), 'update', '-q']);
  // Resolved against the system's installed packages: only what is missing or
  // older than the driver needs is downloaded.
  run('apt-get', [...aptOptions(), 'install', '--download-only', '-y', '-q', '--no-install-recommends', '-t', target, ...PACKAGES]);
  const debs = readdirSync(join(APT, 'archives')).filter((f) => f.endsWith('.deb'));
  if (!debs.some((f) => f.startsWith('mesa-vulkan-drivers_'))) fail('apt-get downloaded no mesa-vulkan-drivers package');
  mkdirSync(UNPACKED, { recursive: true });
  for (const deb of debs) execFileSync('dpkg-deb', ['-x', join(APT, 'archives', deb), UNPACKED]);
  log(`unpacked ${debs.length} packages into ${UNPACKED}: ${debs.map((f) => f.replace(/_amd64\.deb$|_all\.deb$/, '')).join(' ')}`);
  return debs;
}

function mesaVersion(debs: string[]): string {
  const deb = debs.find((f) => f.startsWith('mesa-vulkan-drivers_'))!;
  return decodeURIComponent(deb.split('_')[1]!).replace(/^\d+:/, '');
}

function writeEnv(): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(UNPACKED, 'usr/share/vulkan/icd.d/lvp_icd.json'), 'utf8')) as { ICD: { library_path: string } };
  const lib = join(LIBDIR, 'libvulkan_lvp.so');
  if (!existsSync(lib)) fail(`${lib} missing after unpacking`);
  manifest.ICD.library_path = lib;
  const icd = join(DIR, 'lvp_icd.json');
  writeFileSync(icd, JSON.stringify(manifest, null, 2) + '\n');
  const cache = join(DIR, 'shader-cache');
  const xdg = join(DIR, 'xdg-runtime');
  mkdirSync(cache, { recursive: true });
  mkdirSync(xdg, { recursive: true });
  chmodSync(xdg, 0o700);
  const env = {
    VK_ICD_FILENAMES: icd,
    LD_LIBRARY_PATH: LIBDIR,
    // Cold shader compilation on lavapipe takes ~20 s; Mesa's cache makes reruns fast.
    MESA_SHADER_CACHE_DIR: cache,
    // Without it Mesa prints a harmless error on every start.
    XDG_RUNTIME_DIR: xdg,
  };
  writeFileSync(join(DIR, 'env.json'), JSON.stringify(env, null, 2) + '\n');
  writeFileSync(
    join(DIR, 'env.sh'),
    [
      '# Written by `npm run setup:webgpu`: source it to run the webgpu backend on lavapipe.',
      `export VK_ICD_FILENAMES='${env.VK_ICD_FILENAMES}'`,
      `export LD_LIBRARY_PATH='${env.LD_LIBRARY_PATH}'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}`,
      `export MESA_SHADER_CACHE_DIR='${env.MESA_SHADER_CACHE_DIR}'`,
      `export XDG_RUNTIME_DIR="\${XDG_RUNTIME_DIR:-${env.XDG_RUNTIME_DIR}}"`,
      '',
    ].join('\n'),
  );
  return env;
}

/** Asks a fresh node (the loader reads LD_LIBRARY_PATH at start) which adapter Dawn finds. */
function probe(env: Record<string, string>): void {
  const script = "import { requestWebgpuAdapter } from './libs/tensor/webgpu.js'; console.log(JSON.stringify(await requestWebgpuAdapter()));";
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env, LD_LIBRARY_PATH: [env.LD_LIBRARY_PATH, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) fail(`Dawn found no adapter with lavapipe (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  const a = JSON.parse(line) as { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean; limits: Record<string, number> };
  log(`adapter: ${a.vendor} ${a.architecture} "${a.description || a.device}", isFallbackAdapter ${a.isFallbackAdapter}, maxBufferSize ${a.limits.maxBufferSize}, maxStorageBufferBindingSize ${a.limits.maxStorageBufferBindingSize}`);
}

function main(): void {
  const force = process.argv.includes('--force');
  const unknown = process.argv.slice(2).filter((a) => a !== '--force');
  if (unknown.length) fail(`unknown option ${unknown[0]} (options: --force)`);
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`lavapipe setup is for linux-x64 Debian; this is ${process.platform}-${process.arch}`);
  const os = osRelease();
  if (os.ID !== 'debian' || !os.VERSION_CODENAME) fail(`lavapipe setup needs Debian (apt-get, dpkg-deb); /etc/os-release says ${os.ID ?? '?'} ${os.VERSION_CODENAME ?? ''}`);
  let stamp = existsSync(STAMP) ? (JSON.parse(readFileSync(STAMP, 'utf8')) as { mesa: string; codename: string; packages: string[] }) : undefined;
  if (stamp && (force || stamp.codename !== os.VERSION_CODENAME || !existsSync(join(LIBDIR, 'libvulkan_lvp.so')))) stamp = undefined;
  if (stamp) {
    log(`lavapipe ${stamp.mesa} already unpacked in ${UNPACKED} (--force downloads again)`);
  } else {
    const t0 = Date.now();
    const debs = install(os.VERSION_CODENAME);
    const mesa = mesaVersion(debs);
    if (Number(mesa.split('.')[0]) < MIN_MESA_MAJOR) fail(`mesa-vulkan-drivers ${mesa} is too old: Dawn needs Mesa ≥ ${MIN_MESA_MAJOR}`);
    stamp = { mesa, codename: os.VERSION_CODENAME, packages: debs };
    writeFileSync(STAMP, JSON.stringify(stamp, null, 2) + '\n');
    log(`lavapipe ${mesa} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const env = writeEnv();
  log(`VK_ICD_FILENAMES=${env.VK_ICD_FILENAMES}`);
  log(`LD_LIBRARY_PATH=${env.LD_LIBRARY_PATH} (prepended by env.sh)`);
  probe(env);
  log(`now: . ${join('.cache', 'lavapipe', 'env.sh')} && UAE_BACKEND=webgpu npx uae …`);
}

main();
