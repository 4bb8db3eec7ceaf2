/**
 * `npm run fuzz [-- --runs N --seed S]`: every fuzz target (tests/fuzz/targets.ts)
 * on N inputs each (default 50000, so 3 × 10^5 in all), printing per target the
 * inputs tried, the outcomes seen (ok / status codes) and the crashes; exits 1
 * when there is any crash.
 */
import { FUZZ_TARGETS, fuzz } from './targets.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg("runs", 50_000);
const seed = arg('seed', Date.now() % 2 ** 31);

let total = 0;
let crashes = 0;
const codes: Record<string, number> = {};
const started = performance.now();
for (const t of FUZZ_TARGETS) {
  const t0 = performance.now();
  const s = fuzz(t, runs, seed);
  total += s.runs;
  crashes += s.crashes.length;
  for (const [k, v] of Object.entries(s.outcomes)) codes[k] = (codes[k] ?? 0) + v;
  const seen = Object.entries(s.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`${t.name}: ${s.runs} inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${seen}; crashes ${s.crashes.length}`);
  for (const c of s.crashes) console.log(`  CRASH ${c}`);
}
const all = Object.entries(codes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
console.log(`\ninputs tried ${total} (seed ${seed}, ${((performance.now() - started) / 1000).toFixed(1)} s); outcomes seen: ${all}; crashes ${crashes}`);
process.exit(crashes > 0 ? 1 : 0);
