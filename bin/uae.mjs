#!/usr/bin/env node
// `uae` entry point: the compiled CLI when built (npm run build), else the
// TypeScript sources through tsx (a development dependency, present after npm ci).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli/uae.js', import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/uae.ts', import.meta.url).href);
}
