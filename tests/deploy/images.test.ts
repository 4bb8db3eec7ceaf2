/**
 * The container images cannot be built here (no Docker engine): this checks
 * what can be checked without building them — base images pinned, the tfjs
 * native package and version, non-root, no HEALTHCHECK, every service's entry
 * point exists in the sources and is what the build verifies and the
 * manifests run, the exposed ports are the services' and the manifests', and
 * the staging script gives the compiled code the files it reads.
 * (tests/deploy/live.test.ts runs the compiled services from that layout.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, OVERLAYS, ROOT, SERVICES, commandAvailable, find, podTemplates, renderOverlay } from './helpers.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  engines: { node: string };
};
type Flavour = 'cpu' | 'gpu' | 'webgpu';
const dockerfile = (flavour: Flavour) => readFileSync(join(DEPLOY, 'docker', `Dockerfile.${flavour}`), 'utf8');

/** Instructions with their arguments (line continuations joined, comments dropped). */
function instructions(text: string): Array<{ op: string; args: string }> {
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

function argDefaults(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const i of instructions(text)) {
    const a = /^(\w+)=(\S+)$/.exec(i.args);
    if (i.op === 'ARG' && a) m.set(a[1]!, a[2]!);
  }
  return m;
}

/** The image each FROM resolves to with the ARG defaults (stage names resolve to stages). */
function fromImages(text: string): string[] {
  const args = argDefaults(text);
  const stages = new Set<string>();
  const images: string[] = [];
  for (const i of instructions(text)) {
    if (i.op !== 'FROM') continue;
    const [ref, as, name] = i.args.split(/\s+/);
    const image = ref!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => args.get(a ?? b) ?? `<unset ${a ?? b}>`);
    if (!stages.has(image)) images.push(image);
    if (as?.toUpperCase() === 'AS' && name) stages.add(name);
  }
  return images;
}

/** The instructions of the last stage (the image that ships). */
function lastStage(text: string): Array<{ op: string; args: string }> {
  const ins = instructions(text);
  const from = ins.map((i) => i.op).lastIndexOf('FROM');
  return ins.slice(from);
}

/** ENV key=value pairs of a stage, later ones winning. */
function envOf(stage: Array<{ op: string; args: string }>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage) if (i.op === 'ENV') for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  return env;
}

function pinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const tag = /:([^/:]+)$/.exec(image)?.[1];
  return Boolean(tag) && tag !== 'latest' && /\d/.test(tag!);
}

describe.each(['cpu', 'gpu', 'webgpu'] as const)('Dockerfile.%s', (flavour) => {
  const text = dockerfile(flavour);
  const ins = instructions(text);

  it('builds FROM pinned base images: Node 22 slim (the LTS line tfjs-node 4.22 runs on), and for the GPU image CUDA 11.2 + cuDNN 8', () => {
    const images = fromImages(text);
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(pinned(image), `${image} is not pinned to a version`).toBe(true);
    const node = argDefaults(text).get('NODE_IMAGE');
    expect(node).toMatch(/^node:22\.\d+\.\d+-[a-z]+-slim$/);
    if (flavour === 'gpu') {
      const cuda = argDefaults(text).get('CUDA_IMAGE');
      // libtensorflow 2.9.1 (tfjs-node-gpu 4.22) needs the CUDA 11.2 runtime (libcudart.so.11.0) and cuDNN 8
      expect(cuda).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d\d\.\d\d$/);
      expect(text).toContain('libcudart.so.11.0');
      expect(text).toContain('libcudnn.so.8');
      expect(images).toContain(cuda);
    } else {
      // cpu and webgpu: the Node base only (webgpu needs no CUDA userspace)
      expect([...new Set(images)]).toEqual([node]);
      expect(text).not.toMatch(/nvidia\/cuda/);
    }
  });

  it.skipIf(flavour === 'webgpu')('installs production dependencies and the tfjs native package at the declared peer version', () => {
    const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args);
    const pkgName = flavour === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    const version = pkg.peerDependencies[pkgName];
    expect(version, `package.json peerDependencies has no ${pkgName}`).toBeDefined();
    expect(runs.some((r) => /npm ci --omit=dev\b/.test(r))).toBe(true);
    const install = runs.find((r) => r.includes(`${pkgName}@`));
    expect(install, `no RUN installs ${pkgName}`).toBeDefined();
    expect(install).toContain(`${pkgName}@${version}`);
    expect(install).toMatch(/--no-save/);
    // the other flavour's package is not installed
    const other = flavour === 'gpu' ? /@tensorflow\/tfjs-node@/ : /@tensorflow\/tfjs-node-gpu@/;
    expect(runs.some((r) => other.test(r))).toBe(false);
  });

  it.skipIf(flavour !== 'webgpu')('webgpu: npm ci --omit=dev brings the optional webgpu packages, checked, and no libtensorflow binding; libvulkan1 and the webgpu environment in the runtime', () => {
    const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci --omit=dev\b/.test(r))).toBe(true);
    // no npm install on top: neither tfjs-node nor tfjs-node-gpu
    expect(runs.some((r) => /npm (install|i) /.test(r))).toBe(false);
    expect(runs.some((r) => /@tensorflow\/tfjs-node(-gpu)?@/.test(r))).toBe(false);
    // the packages the webgpu backend needs are optionalDependencies (so npm ci installs them), checked after it
    expect(pkg.optionalDependencies['webgpu']).toBeDefined();
    expect(pkg.optionalDependencies['@tensorflow/tfjs-backend-webgpu']).toBeDefined();
    const check = runs.find((r) => r.includes('dist/linux-x64/dawn.node'));
    expect(check, 'no RUN checks dawn.node').toBeDefined();
    expect(check).toMatch(/test -f node_modules\/webgpu\/dist\/linux-x64\/dawn\.node/);
    expect(check).toMatch(/test -f node_modules\/@tensorflow\/tfjs-backend-webgpu\//);
    expect(check).toMatch(/test ! -e node_modules\/@tensorflow\/tfjs-node;/);
    expect(check).toMatch(/test ! -e node_modules\/@tensorflow\/tfjs-node-gpu;/);
    expect(check).toContain('optionalDependencies');
    expect(check).toContain("import('webgpu')");

    const runtime = lastStage(text);
    const apt = runtime.filter((i) => i.op === 'RUN').map((i) => i.args).find((r) => r.includes('apt-get install'));
    expect(apt, 'the runtime stage installs nothing with apt').toBeDefined();
    expect(apt).toMatch(/--no-install-recommends[^&]*\blibvulkan1\b/);
    const env = envOf(runtime);
    expect(env['UAE_BACKEND']).toBe('webgpu');
    expect(env['NVIDIA_DRIVER_CAPABILITIES']!.split(',').sort()).toEqual(['compute', 'graphics', 'utility']);
    expect(env['NVIDIA_VISIBLE_DEVICES']).toBe('all');
    expect(env['XDG_RUNTIME_DIR']).toBeDefined();
  });

  it('sets the environment its backend needs, and only its own', () => {
    const env = envOf(lastStage(text));
    expect(env['HOME']).toBe('/tmp');
    expect(env['NODE_ENV']).toBe('production');
    const caps = env['NVIDIA_DRIVER_CAPABILITIES']?.split(',') ?? [];
    if (flavour === 'cpu') expect(caps).toEqual([]);
    if (flavour === 'gpu') expect(caps.sort()).toEqual(['compute', 'utility']);
    if (flavour === 'webgpu') expect(caps).toContain('graphics');
    // libtensorflow's allocator setting only where libtensorflow is
    expect(env['TF_FORCE_GPU_ALLOW_GROWTH'] !== undefined).toBe(flavour === 'gpu');
    // the Vulkan loader only in the webgpu image
    expect(/\blibvulkan1\b/.test(lastStage(text).filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'))).toBe(flavour === 'webgpu');
  });

  it.skipIf(flavour !== 'webgpu' || !commandAvailable(process.env['UAE_KUBECTL'] ?? 'kubectl'))('webgpu: XDG_RUNTIME_DIR is a writable emptyDir in every pod of the gpu-webgpu overlay, and UAE_BACKEND matches its uae-config', () => {
    const env = envOf(lastStage(text));
    const objs = renderOverlay('gpu-webgpu');
    expect(find(objs, 'ConfigMap', 'uae-config').data!['UAE_BACKEND']).toBe(env['UAE_BACKEND']);
    for (const { owner, spec } of podTemplates(objs)) {
      for (const c of spec.containers) {
        const m = (c.volumeMounts ?? []).find((vm: any) => vm.mountPath === env['XDG_RUNTIME_DIR']);
        expect(m, `${owner.metadata.name}: no mount at ${env['XDG_RUNTIME_DIR']}`).toBeDefined();
        expect(m.readOnly ?? false).toBe(false);
        expect(spec.volumes.find((v: any) => v.name === m.name)?.emptyDir, owner.metadata.name).toBeDefined();
      }
    }
  });

  it('compiles with npm run build, stages the non-TypeScript files and checks every service entry point', () => {
    const runs = ins.filter((i) => i.op === 'RUN').map((i) => i.args);
    const build = runs.find((r) => r.includes('npm run build'));
    expect(build).toBeDefined();
    expect(build).toContain('deploy/docker/stage-dist.sh');
    for (const s of SERVICES) expect(build).toContain(`test -f dist/services/${s.name}/main.js`);
    // every service directory in the sources is covered (a new service must be added here and to deploy/)
    const dirs = readdirSync(join(ROOT, 'services')).filter(
      (d) => statSync(join(ROOT, 'services', d)).isDirectory() && existsSync(join(ROOT, 'services', d, 'main.ts')),
    );
    expect(dirs.sort()).toEqual(SERVICES.map((s) => s.name).sort());
    // what the runtime stage copies
    const copies = ins.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const want of [
      '/app/node_modules ./node_modules',
      '/src/dist ./dist',
      '/src/libs/data/bundled ./libs/data/bundled',
      // libs/data's default Fashion-MNIST location (Debian's dataset-fashion-mnist)
      '/usr/share/datasets/fashion-mnist /usr/share/datasets/fashion-mnist',
      'package.json ./',
    ]) {
      expect(copies.some((c) => c.endsWith(want)), `runtime stage does not COPY ${want}`).toBe(true);
    }
  });

  it('runs as a non-root numeric user, without HEALTHCHECK, and exposes every service port', () => {
    const user = ins.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/); // numeric uid:gid ≠ 0, so runAsNonRoot can verify it
    expect(ins.some((i) => i.op === 'HEALTHCHECK')).toBe(false);
    const exposed = ins.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    for (const s of SERVICES) {
      expect(exposed).toContain(s.grpc);
      expect(exposed).toContain(s.metrics);
    }
    // the service is chosen by the command, not baked in
    expect(ins.some((i) => i.op === 'ENTRYPOINT')).toBe(false);
    expect(ins.filter((i) => i.op === 'CMD').at(-1)?.args).not.toMatch(/dist\/services\//);
  });

  it('has an ignore file next to it that keeps node_modules, dist and .git out of the context', () => {
    const ignore = readFileSync(join(DEPLOY, 'docker', `Dockerfile.${flavour}.dockerignore`), 'utf8').split('\n');
    for (const p of ['**/node_modules', 'dist', '.git']) expect(ignore).toContain(p);
    // and nothing the build COPYs is ignored
    for (const p of ['proto', 'libs', 'services', 'cli', 'bin', 'deploy/docker', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignore).not.toContain(p);
    }
  });
});

describe('service entry points and ports', () => {
  it.each(SERVICES.map((s) => [s.name, s] as const))('%s: main.ts exists and declares the ports the images and manifests use', (name, s) => {
    const main = readFileSync(join(ROOT, 'services', name, 'main.ts'), 'utf8');
    expect(main).toMatch(new RegExp(`\\b${s.grpc}\\b`));
    expect(main).toMatch(new RegExp(`\\b${s.metrics}\\b`));
  });

  it.skipIf(!commandAvailable(process.env['UAE_KUBECTL'] ?? 'kubectl'))('every Deployment runs its service by command, on the ports the image exposes', () => {
    for (const overlay of OVERLAYS) {
      const deployments = podTemplates(renderOverlay(overlay)).filter((p) => p.owner.kind === 'Deployment');
      expect(deployments.map((d) => d.owner.metadata.name).sort()).toEqual(SERVICES.map((s) => s.name).sort());
      for (const { owner, spec } of deployments) {
        const s = SERVICES.find((x) => x.name === owner.metadata.name)!;
        const c = spec.containers[0];
        expect(c.command, `${overlay}/${s.name}`).toEqual(['node', `dist/services/${s.name}/main.js`]);
        expect(c.workingDir).toBe('/app');
        expect(existsSync(join(ROOT, 'services', s.name, 'main.ts'))).toBe(true);
        const ports = Object.fromEntries((c.ports as Array<{ name: string; containerPort: number }>).map((p) => [p.name, p.containerPort]));
        expect(ports, `${overlay}/${s.name}`).toEqual({ grpc: s.grpc, metrics: s.metrics });
        const env = Object.fromEntries((c.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
        expect(env['UAE_GRPC_PORT']).toBe(String(s.grpc));
        expect(env['UAE_METRICS_PORT']).toBe(String(s.metrics));
      }
    }
  });
});

describe('deploy/docker/stage-dist.sh', () => {
  it('copies what the compiled code reads next to itself: proto/, the descriptor set, non-TS files; not TS, Markdown or bundled data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uae-stage-'));
    try {
      execFileSync('sh', [join(DEPLOY, 'docker', 'stage-dist.sh'), ROOT, join(dir, 'dist')], { stdio: 'pipe' });
      const dist = join(dir, 'dist');
      // services/common/service.ts: PROTO_DIR = dist/services/common/../../proto
      expect(existsSync(join(dist, 'proto', 'uae', 'v1', 'attack_service.proto'))).toBe(true);
      expect(existsSync(join(dist, 'proto', 'uae', 'v1', 'job_service.proto'))).toBe(true);
      // libs/proto DESCRIPTOR_SET_PATH (reflection)
      expect(existsSync(join(dist, 'libs', 'proto', 'uae.v1.binpb'))).toBe(true);
      const all = execFileSync('find', [dist, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
      expect(all.filter((f) => f.endsWith('.ts') || f.endsWith('.md'))).toEqual([]);
      expect(all.filter((f) => f.includes('/bundled/'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
