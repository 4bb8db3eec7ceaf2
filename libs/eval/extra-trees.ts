/**
 * ExtraTrees classifier: Extremely Randomized Trees (Geurts, Ernst & Wehenkel,
 * 2006) with scikit-learn's ExtraTreesClassifier defaults.
 *
 * The paper's post-hoc probe of learned representations is "an ExtraTrees
 * classifier with 50 trees"; no npm package offers that algorithm (bagged
 * random forests use bootstrap samples and optimal thresholds, Extra-Trees use
 * the whole sample and random thresholds), so it is written here.
 *
 * Defaults: 50 trees, no bootstrap, max_features = max(1, floor(sqrt(d))),
 * gini criterion, fully grown trees (a node is split while it holds at least
 * minSamplesSplit = 2 samples and is impure; every leaf keeps ≥ 1 sample).
 * At each node up to max_features candidate features are drawn without
 * replacement among those that are not constant in the node (a node whose
 * features are all constant becomes a leaf); each gets a threshold drawn
 * uniformly between its minimum and maximum in the node, and the candidate with
 * the lowest weighted gini impurity is kept. Leaves store class probabilities;
 * prediction averages the trees' probabilities and takes the argmax (ties go to
 * the lowest class).
 *
 * Deterministic under `seed` (a small PRNG lives in this module; each tree is
 * seeded from (seed, tree index)). Trees are grown with an explicit stack over
 * an index array partitioned in place and are stored in flat typed arrays.
 */

export interface ExtraTreesOptions {
  nTrees?: number /* default 50 */;
  maxFeatures?: number | 'sqrt' /* default 'sqrt' */;
  minSamplesSplit?: number /* default 2 */;
  maxDepth?: number /* default unlimited */;
  seed?: number /* default 0 */;
}

// ---------------------------------------------------------------------------
// Seeded PRNG (splitmix32-style counter hash)
// ---------------------------------------------------------------------------

/** A 32-bit finalizer: mixes all bits of `h` (integer hash, avalanche). */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad);
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
  return (h ^ (h >>> 15)) >>> 0;
}

/** splitmix32: a Weyl sequence passed through mix32. Small, fast, good enough for split draws. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state) / 4294967296;
  }
  /** Uniform integer in [0, m). */
  int(m: number): number {
    return Math.floor(this.next() * m);
  }
}

/** Independent-looking stream per tree, derived from (seed, treeIndex). */
function treeSeed(seed: number, treeIndex: number): number {
  return mix32(mix32(seed >>> 0) ^ Math.imul(treeIndex + 1, 0x85ebca6b));
}

// ---------------------------------------------------------------------------
// Flat tree storage
// ---------------------------------------------------------------------------

/**
 * One tree in flat arrays. Node i is a leaf when feature[i] < 0; its class
 * probabilities are values[value[i] .. value[i] + classes). Otherwise samples
 * with x[feature] <= threshold go to left[i], the others to right[i].
 * The first classes × classes entries of `values` are the one-hot vectors,
 * shared by all pure leaves (the common case in fully grown trees).
 */
interface Tree {
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  value: Int32Array;
  values: Float32Array;
}

function growInt32(a: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(size, a.length * 2));
  b.set(a);
  return b;
}

function growFloat32(a: Float32Array, size: number): Float32Array<ArrayBuffer> {
  const b = new Float32Array(Math.max(size, a.length * 2));
  b.set(a);
  return b;
}

/** A growable node list, trimmed to size by finish(). */
class TreeBuilder {
  count = 0;
  feature = new Int32Array(64);
  threshold = new Float32Array(64);
  left = new Int32Array(64);
  right = new Int32Array(64);
  value = new Int32Array(64);
  values: Float32Array;
  valuesLength: number;

  constructor(private readonly classes: number) {
    this.valuesLength = classes * classes;
    this.values = new Float32Array(Math.max(64, this.valuesLength));
    for (let c = 0; c < classes; c++) this.values[c * classes + c] = 1;
  }

  addNode(): number {
    if (this.count === this.feature.length) {
      const size = this.count * 2;
      this.feature = growInt32(this.feature, size);
      this.threshold = growFloat32(this.threshold, size);
      this.left = growInt32(this.left, size);
      this.right = growInt32(this.right, size);
      this.value = growInt32(this.value, size);
    }
    this.feature[this.count] = -1;
    return this.count++;
  }

  /** Make `node` a leaf with the given class counts over `total` samples. */
  setLeaf(node: number, counts: Float64Array, total: number): void {
    const k = this.classes;
    this.feature[node] = -1;
    for (let c = 0; c < k; c++) {
      if (counts[c] === total) {
        this.value[node] = c * k; // pure: shared one-hot vector
        return;
      }
    }
    if (this.valuesLength + k > this.values.length) this.values = growFloat32(this.values, this.valuesLength + k);
    const off = this.valuesLength;
    for (let c = 0; c < k; c++) this.values[off + c] = counts[c]! / total;
    this.value[node] = off;
    this.valuesLength += k;
  }

  setSplit(node: number, feature: number, threshold: number, left: number, right: number): void {
    this.feature[node] = feature;
    this.threshold[node] = threshold;
    this.left[node] = left;
    this.right[node] = right;
  }

  finish(): Tree {
    const n = this.count;
    return {
      feature: this.feature.slice(0, n),
      threshold: this.threshold.slice(0, n),
      left: this.left.slice(0, n),
      right: this.right.slice(0, n),
      value: this.value.slice(0, n),
      values: this.values.slice(0, this.valuesLength),
    };
  }
}

// ---------------------------------------------------------------------------
// Tree growing
// ---------------------------------------------------------------------------

/** Shared, read-only inputs of tree growing (column-major features for cache-friendly scans). */
interface FitData {
  xT: Float32Array; // d × n, column-major copy of x
  n: number;
  d: number;
  labels: Int32Array;
  classes: number;
  maxFeatures: number;
  minSamplesSplit: number;
  maxDepth: number;
}

/** Scratch buffers reused across nodes and trees (no per-node allocation). */
interface Scratch {
  idx: Int32Array; // sample indices, partitioned in place
  y: Int32Array; // labels, permuted along with idx
  vals: Float32Array; // gathered feature values of the current node
  features: Int32Array; // permutation of 0..d-1 for drawing without replacement
  counts: Float64Array; // class counts of the node
  leftCounts: Float64Array;
}

function makeScratch(n: number, d: number, classes: number): Scratch {
  const features = new Int32Array(d);
  for (let f = 0; f < d; f++) features[f] = f;
  return {
    idx: new Int32Array(n),
    y: new Int32Array(n),
    vals: new Float32Array(n),
    features,
    counts: new Float64Array(classes),
    leftCounts: new Float64Array(classes),
  };
}

/**
 * Σ_c n_c² / n over both children. Minimizing the weighted gini
 * (n_L·G_L + n_R·G_R) / n is the same as maximizing this.
 */
function purityScore(leftCounts: Float64Array, counts: Float64Array, nLeft: number, nNode: number): number {
  const nRight = nNode - nLeft;
  let sl = 0;
  let sr = 0;
  for (let c = 0; c < counts.length; c++) {
    const l = leftCounts[c]!;
    const r = counts[c]! - l;
    sl += l * l;
    sr += r * r;
  }
  return sl / nLeft + sr / nRight;
}

/**
 * Split threshold uniform in [lo, hi) rounded to float32 (the comparisons are
 * made on float32 inputs). Rounding up to hi would empty the right side, so
 * that case falls back to lo, as scikit-learn does. (Interpolating as
 * lo·(1−u) + hi·u cannot overflow even when hi − lo would.)
 */
function drawThreshold(rng: Rng, lo: number, hi: number): number {
  const u = rng.next();
  const t = Math.fround(lo * (1 - u) + hi * u);
  return t >= hi || t < lo ? lo : t;
}

interface Candidate {
  feature: number;
  threshold: number;
  nLeft: number;
  score: number;
}

/**
 * Draws features (without replacement, skipping those constant in the node)
 * until maxFeatures candidates are evaluated; returns the best one, or null if
 * every feature is constant in the node.
 */
function bestRandomSplit(data: FitData, s: Scratch, rng: Rng, start: number, end: number): Candidate | null {
  const { xT, n, d, maxFeatures } = data;
  const { idx, y, vals, features, counts, leftCounts } = s;
  const m = end - start;
  let best: Candidate | null = null;
  let found = 0;
  for (let drawn = 0; drawn < d && found < maxFeatures; drawn++) {
    // Partial Fisher–Yates step: features[drawn] becomes a fresh random feature.
    const j = drawn + rng.int(d - drawn);
    const f = features[j]!;
    features[j] = features[drawn]!;
    features[drawn] = f;

    const col = f * n;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < m; i++) {
      const v = xT[col + idx[start + i]!]!;
      vals[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi > lo)) continue; // constant in this node: not a candidate
    found++;

    const threshold = drawThreshold(rng, lo, hi);
    leftCounts.fill(0);
    let nLeft = 0;
    for (let i = 0; i < m; i++) {
      if (vals[i]! <= threshold) {
        leftCounts[y[start + i]!]!++;
        nLeft++;
      }
    }
    const score = purityScore(leftCounts, counts, nLeft, m);
    if (best === null || score > best.score) {
      best = { feature: f, threshold, nLeft, score };
    }
  }
  return best;
}

/** Moves the samples with x[feature] <= threshold to the front of [start, end); returns the boundary. */
function partition(data: FitData, s: Scratch, start: number, end: number, feature: number, threshold: number): number {
  const { xT, n } = data;
  const { idx, y } = s;
  const col = feature * n;
  let i = start;
  let j = end - 1;
  while (i <= j) {
    if (xT[col + idx[i]!]! <= threshold) {
      i++;
    } else {
      const ti = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = ti;
      const ty = y[i]!;
      y[i] = y[j]!;
      y[j] = ty;
      j--;
    }
  }
  return i;
}

function countClasses(y: Int32Array, start: number, end: number, counts: Float64Array): void {
  counts.fill(0);
  for (let i = start; i < end; i++) counts[y[i]!]!++;
}

function isPure(counts: Float64Array, total: number): boolean {
  for (let c = 0; c < counts.length; c++) if (counts[c] === total) return true;
  return false;
}

/** Grows one tree on all samples (no bootstrap), depth-first with an explicit stack. */
function growTree(data: FitData, s: Scratch, rng: Rng): Tree {
  const { n, labels, classes, minSamplesSplit, maxDepth } = data;
  for (let i = 0; i < n; i++) {
    s.idx[i] = i;
    s.y[i] = labels[i]!;
  }
  const builder = new TreeBuilder(classes);
  // Stack entries: node id, start, end, depth (four numbers each).
  const stack: number[] = [builder.addNode(), 0, n, 0];
  while (stack.length > 0) {
    const depth = stack.pop()!;
    const end = stack.pop()!;
    const start = stack.pop()!;
    const node = stack.pop()!;
    const m = end - start;
    countClasses(s.y, start, end, s.counts);
    const split =
      m >= minSamplesSplit && depth < maxDepth && !isPure(s.counts, m) ? bestRandomSplit(data, s, rng, start, end) : null;
    if (split === null) {
      builder.setLeaf(node, s.counts, m);
      continue;
    }
    const mid = partition(data, s, start, end, split.feature, split.threshold);
    if (mid - start !== split.nLeft) throw new Error('internal error: partition disagrees with split counts');
    const left = builder.addNode();
    const right = builder.addNode();
    builder.setSplit(node, split.feature, split.threshold, left, right);
    stack.push(right, mid, end, depth + 1);
    stack.push(left, start, mid, depth + 1);
  }
  return builder.finish();
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

function checkPositiveInteger(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${v}`);
}

function checkFinite(name: string, x: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new Error(`${name}[${i}] is not a finite number (${x[i]})`);
  }
}

function checkMatrix(name: string, x: Float32Array, n: number, d: number): void {
  checkPositiveInteger(`${name} row count n`, n, 1);
  if (x.length !== n * d) throw new Error(`${name} has length ${x.length}, expected n × d = ${n} × ${d} = ${n * d}`);
  checkFinite(name, x);
}

interface ResolvedOptions {
  nTrees: number;
  maxFeatures: number | 'sqrt';
  minSamplesSplit: number;
  maxDepth: number;
  seed: number;
}

function resolveOptions(opts: ExtraTreesOptions): ResolvedOptions {
  const nTrees = opts.nTrees ?? 50;
  checkPositiveInteger('nTrees', nTrees, 1);
  const maxFeatures = opts.maxFeatures ?? 'sqrt';
  if (maxFeatures !== 'sqrt') checkPositiveInteger('maxFeatures', maxFeatures, 1);
  const minSamplesSplit = opts.minSamplesSplit ?? 2;
  checkPositiveInteger('minSamplesSplit', minSamplesSplit, 2);
  const maxDepth = opts.maxDepth ?? Infinity;
  if (maxDepth !== Infinity) checkPositiveInteger('maxDepth', maxDepth, 1);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  return { nTrees, maxFeatures, minSamplesSplit, maxDepth, seed };
}

// ---------------------------------------------------------------------------
// Classifier
// ---------------------------------------------------------------------------

export class ExtraTreesClassifier {
  private readonly opts: ResolvedOptions;
  private trees: Tree[] = [];
  private dims = 0;
  private nClasses = 0;

  constructor(opts: ExtraTreesOptions = {}) {
    this.opts = resolveOptions(opts);
  }

  /** Number of classes (max label + 1), known after fit. */
  get classes(): number {
    return this.nClasses;
  }

  /** x: n×d row-major; labels: integers in [0, classes). */
  fit(x: Float32Array, n: number, d: number, labels: Int32Array): this {
    checkPositiveInteger('d', d, 1);
    checkMatrix('x', x, n, d);
    if (!(labels instanceof Int32Array)) throw new Error('labels must be an Int32Array');
    if (labels.length !== n) throw new Error(`labels has length ${labels.length}, expected n = ${n}`);
    let maxLabel = 0;
    for (let i = 0; i < n; i++) {
      const c = labels[i]!;
      if (c < 0) throw new Error(`labels[${i}] = ${c} is negative; labels must be integers in [0, classes)`);
      if (c > maxLabel) maxLabel = c;
    }
    const classes = maxLabel + 1;
    const maxFeatures = this.opts.maxFeatures === 'sqrt' ? Math.max(1, Math.floor(Math.sqrt(d))) : this.opts.maxFeatures;
    if (maxFeatures > d) throw new Error(`maxFeatures = ${maxFeatures} exceeds the number of features d = ${d}`);

    const xT = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const row = i * d;
      for (let f = 0; f < d; f++) xT[f * n + i] = x[row + f]!;
    }
    const data: FitData = {
      xT,
      n,
      d,
      labels,
      classes,
      maxFeatures,
      minSamplesSplit: this.opts.minSamplesSplit,
      maxDepth: this.opts.maxDepth,
    };
    const scratch = makeScratch(n, d, classes);
    const trees: Tree[] = [];
    for (let t = 0; t < this.opts.nTrees; t++) {
      trees.push(growTree(data, scratch, new Rng(treeSeed(this.opts.seed, t))));
    }
    this.trees = trees;
    this.dims = d;
    this.nClasses = classes;
    return this;
  }

  /** Mean of the trees' leaf probabilities: n × classes, row-major. */
  predictProba(x: Float32Array, n: number): Float32Array {
    if (this.trees.length === 0) throw new Error('ExtraTreesClassifier: call fit() before predicting');
    const d = this.dims;
    const k = this.nClasses;
    checkMatrix('x', x, n, d);
    const acc = new Float64Array(k);
    const out = new Float32Array(n * k);
    const scale = 1 / this.trees.length;
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      const row = i * d;
      for (const tree of this.trees) {
        const { feature, threshold, left, right, value, values } = tree;
        let node = 0;
        let f = feature[0]!;
        while (f >= 0) {
          node = x[row + f]! <= threshold[node]! ? left[node]! : right[node]!;
          f = feature[node]!;
        }
        const off = value[node]!;
        for (let c = 0; c < k; c++) acc[c]! += values[off + c]!;
      }
      for (let c = 0; c < k; c++) out[i * k + c] = acc[c]! * scale;
    }
    return out;
  }

  /** Argmax of predictProba per row; ties go to the lowest class. */
  predict(x: Float32Array, n: number): Int32Array {
    const proba = this.predictProba(x, n);
    const k = this.nClasses;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestP = proba[i * k]!;
      for (let c = 1; c < k; c++) {
        const p = proba[i * k + c]!;
        if (p > bestP) {
          bestP = p;
          best = c;
        }
      }
      out[i] = best;
    }
    return out;
  }
}

/** Fit on (train) and return accuracy in [0,1] on (test). */
export function extraTreesAccuracy(
  train: { x: Float32Array; labels: Int32Array },
  test: { x: Float32Array; labels: Int32Array },
  d: number,
  opts?: ExtraTreesOptions,
): number {
  checkPositiveInteger('d', d, 1);
  const nTrain = train.labels.length;
  const nTest = test.labels.length;
  if (nTrain < 1) throw new Error('train must hold at least one sample');
  if (nTest < 1) throw new Error('test must hold at least one sample');
  const model = new ExtraTreesClassifier(opts).fit(train.x, nTrain, d, train.labels);
  const pred = model.predict(test.x, nTest);
  let correct = 0;
  for (let i = 0; i < nTest; i++) if (pred[i] === test.labels[i]) correct++;
  return correct / nTest;
}
