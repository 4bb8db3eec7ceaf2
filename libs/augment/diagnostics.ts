/**
 * Mechanism diagnostics of an attack arm (beyond the paper): did the attack
 * move away from its starting draw? Per sample, with δ = x′ − x and δ0 the
 * attack's initial perturbation (after Proj):
 *   linf = ‖δ‖∞, l2 = ‖δ‖₂, rel_move = ‖δ − δ0‖₂ / ‖δ0‖₂, cos_delta0 = cos(δ, δ0),
 * plus the arm's similarity (MI for MINE) and f. rel_move ≈ 0 and cos_delta0 ≈ 1
 * mean the UAE is, to first order, its initial noise (docs/algorithms.md, what we measured about the mechanism).
 */
import { summarize, type Summary } from '../eval/index.js';
import type { SampleResult } from '../attack/index.js';

export interface SampleDiagnostics {
  sampleId: number;
  success: boolean;
  linf: number;
  l2: number;
  rel_move: number;
  cos_delta0: number;
  /** The returned x′'s similarity (MI in nats for MINE; −‖δ‖² for L2; cos for cosine); NaN if never measured. */
  similarity: number;
  f: number;
}

export interface DiagnosticsSummary {
  linf?: Summary;
  l2?: Summary;
  rel_move?: Summary;
  cos_delta0?: Summary;
  /** Over the successful samples (those that enter the augmented training set). */
  samples: number;
}

/** Per-sample diagnostics; `x` and `delta0` are n × d in the results' order. */
export function sampleDiagnostics(x: Float32Array, delta0: Float32Array, results: readonly SampleResult[]): SampleDiagnostics[] {
  const n = results.length;
  if (n === 0) return [];
  const d = x.length / n;
  if (!Number.isInteger(d) || delta0.length !== x.length) throw new Error(`diagnostics: ${x.length} values of x and ${delta0.length} of δ0 for ${n} results`);
  return results.map((r, i) => {
    let linf = 0;
    let dd = 0;
    let d00 = 0;
    let d0d = 0;
    let move = 0;
    for (let j = 0; j < d; j++) {
      const delta = r.xAdv[j]! - x[i * d + j]!;
      const delta0j = delta0[i * d + j]!;
      linf = Math.max(linf, Math.abs(delta));
      dd += delta * delta;
      d00 += delta0j * delta0j;
      d0d += delta * delta0j;
      move += (delta - delta0j) ** 2;
    }
    const denom = Math.sqrt(dd * d00);
    return {
      sampleId: r.sampleId,
      success: r.success,
      linf,
      l2: Math.sqrt(dd),
      rel_move: d00 > 0 ? Math.sqrt(move / d00) : NaN,
      cos_delta0: denom > 0 ? d0d / denom : NaN,
      similarity: r.similarity,
      f: r.f,
    };
  });
}

/** Summaries over the successful samples. */
export function summarizeDiagnostics(rows: readonly SampleDiagnostics[]): DiagnosticsSummary {
  const ok = rows.filter((r) => r.success);
  const of = (k: 'linf' | 'l2' | 'rel_move' | 'cos_delta0') => summarize(ok.map((r) => r[k]));
  const out: DiagnosticsSummary = { samples: ok.length };
  for (const k of ['linf', 'l2', 'rel_move', 'cos_delta0'] as const) {
    const s = of(k);
    if (s) out[k] = s;
  }
  return out;
}

/** The per-sample table as CSV (header row; one row per sample). */
export function diagnosticsCsv(rows: readonly SampleDiagnostics[]): string {
  const header = 'sample_id,success,linf,l2,rel_move,cos_delta0,similarity,f';
  const num = (v: number) => (Number.isFinite(v) ? String(v) : '');
  return [header, ...rows.map((r) => [r.sampleId, r.success ? 1 : 0, num(r.linf), num(r.l2), num(r.rel_move), num(r.cos_delta0), num(r.similarity), num(r.f)].join(','))].join('\n') + '\n';
}
