#!/usr/bin/env node
// `uae` entry point. In a development checkout (tsx, a dev dependency, is
// installed) it runs the TypeScript sources, so a stale dist/ from an earlier
// `npm run build` can never shadow them; in a production install
// (npm ci --omit=dev: no tsx) it runs the compiled dist/cli/uae.js.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/uae.js', import.meta.url));
let hasTsx = true;
try {
  createRequire(import.meta.url).resolve('tsx/esm/api');
} catch {
  hasTsx = false;
}
if (hasTsx) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/uae.ts', import.meta.url).href);
} else if (existsSync(compiled)) {
  await import(compiled);
} else {
  process.stderr.write('uae: neither tsx (npm ci) nor a build (npm run build) is present\n');
  process.exit(2);
}
