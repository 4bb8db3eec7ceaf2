/** Per-sample attack results. */

export interface IterationTrace {
  /** Similarity (MI for MINE) of the iterate, measured after the MINE update. */
  similarity: number[];
  /** f of the iterate (≤ 0: success). */
  f: number[];
  /** c after the iteration's update (NaN for pgd and fgsm). */
  c: number[];
}

export interface SampleResult {
  /** The sample's id (its position in the caller's dataset): seeds its random streams. */
  sampleId: number;
  /** x′, flattened in C order, same length as the native sample. */
  xAdv: Float32Array;
  /** An iterate with f ≤ 0 that passed the best-so-far rule was found. */
  success: boolean;
  /** Similarity of the returned x′ (MI for MINE); NaN when failed and never measured. */
  similarity: number;
  /** f of the returned x′. */
  f: number;
  /** c at the end of the attack; NaN for pgd and fgsm (no c). */
  finalC: number;
  /** Iterations run (T unless cancelled). */
  iterations: number;
  /** 1-based iteration that produced the returned x′ (0: the initial point). */
  bestIteration: number;
  /** ‖x′ − x‖∞ and ‖x′ − x‖₂ of the returned x′ (runAttack sets them for every method). */
  linf?: number;
  l2?: number;
  trace?: IterationTrace;
}
