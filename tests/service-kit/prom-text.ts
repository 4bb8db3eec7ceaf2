/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4),
 * written for the tests: it throws on the first line that does not follow the
 * grammar or the format's rules, and returns the metric families.
 *
 * Rules checked: `# HELP name text` and `# TYPE name type` at most once per
 * family and before its samples; samples `name{label="value",…} value
 * [timestamp]` with valid metric and label names, escaped label values and
 * Go-parsable floats; a family's samples contiguous; no duplicate series;
 * histogram samples only `_bucket` (with `le`), `_sum`, `_count`, buckets
 * non-decreasing, ending with le="+Inf" equal to `_count`; summary samples
 * only the name (with `quantile`), `_sum`, `_count`; counters' values ≥ 0.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// Go's strconv.ParseFloat (what Prometheus uses) takes inf, infinity and nan
// in any case: prom-client writes NaN as "Nan" (e.g. the event-loop lag gauges
// before their first sample), which Prometheus reads.
const FLOAT = /^(?:[+-]?(?:inf|infinity)|nan|[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseFloatStrict(s: string, where: string): number {
  if (!FLOAT.test(s)) throw new Error(`${where}: "${s}" is not a number`);
  if (/inf/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/nan/i.test(s)) return Number.NaN;
  return Number(s);
}

function parseLabels(src: string, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after '{'
  for (;;) {
    while (src[i] === ' ') i++;
    if (src[i] === '}') return { labels, rest: src.slice(i + 1) };
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(src.slice(i));
    if (!m) throw new Error(`${where}: bad label name at "${src.slice(i)}"`);
    const name = m[0];
    i += name.length;
    if (src[i] !== '=' || src[i + 1] !== '"') throw new Error(`${where}: expected ="…" after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = src[i];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = src[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${e} in label value`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    i++; // closing quote
    if (name in labels) throw new Error(`${where}: label ${name} repeated`);
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: reserved label name ${name}`);
    labels[name] = value;
    while (src[i] === ' ') i++;
    if (src[i] === ',') {
      i++;
      continue;
    }
    if (src[i] === '}') return { labels, rest: src.slice(i + 1) };
    throw new Error(`${where}: expected , or } in labels`);
  }
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sampleName);
  if (direct && direct.type !== 'histogram') return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return direct;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined;
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, k) => {
    const where = `line ${k + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // other comments are allowed
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      let f = families.get(name);
      if (f && finished.has(name)) throw new Error(`${where}: ${kind} for ${name} after its samples ended`);
      if (!f) {
        f = { name, type: 'untyped', samples: [] };
        families.set(name, f);
      }
      if (current && current !== f) finished.add(current.name);
      current = f;
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        f.help = rest;
      } else {
        if (f.samples.length > 0) throw new Error(`${where}: TYPE for ${name} after samples`);
        if ((f as Family & { typed?: boolean }).typed) throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest as MetricType)) throw new Error(`${where}: unknown type "${rest}"`);
        f.type = rest as MetricType;
        (f as Family & { typed?: boolean }).typed = true;
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: bad sample line "${line}"`);
    const name = nm[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, where));
    const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!vm) throw new Error(`${where}: expected " value [timestamp]" after ${name}, got "${rest}"`);
    const value = parseFloatStrict(vm[1], where);
    let f = familyOf(name, families);
    if (!f) {
      f = { name, type: 'untyped', samples: [] };
      families.set(name, f);
    }
    if (finished.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not contiguous`);
    if (current && current !== f) finished.add(current.name);
    current = f;
    if (f.type === 'histogram') {
      const suffix = name.slice(f.name.length);
      if (!['_bucket', '_sum', '_count'].includes(suffix)) throw new Error(`${where}: ${name} is not a histogram sample of ${f.name}`);
      if (suffix === '_bucket' && labels.le === undefined) throw new Error(`${where}: bucket without le`);
      if (suffix === '_bucket') parseFloatStrict(labels.le, `${where} le`);
    } else if (f.type === 'summary') {
      const suffix = name.slice(f.name.length);
      if (!['', '_sum', '_count'].includes(suffix)) throw new Error(`${where}: ${name} is not a summary sample of ${f.name}`);
      if (suffix === '' && labels.quantile === undefined) throw new Error(`${where}: summary sample without quantile`);
    } else if (name !== f.name) {
      throw new Error(`${where}: sample ${name} does not belong to ${f.name}`);
    }
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    const key = `${name}{${Object.entries(labels).sort().map(([a, b]) => `${a}=${JSON.stringify(b)}`).join(',')}}`;
    if (series.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    series.add(key);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith('_bucket')) g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    if (s.name.endsWith('_count')) g.count = s.value;
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][1] < sorted[i - 1][1]) throw new Error(`${f.name}${key}: buckets decrease`);
    }
    const inf = sorted.at(-1);
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
    if (g.count !== inf[1]) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != _count ${g.count}`);
  }
}

/** The value of one series, or undefined. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
