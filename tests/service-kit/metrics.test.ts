import { describe, expect, it } from 'vitest';
import { createServiceMetrics, startMetricsServer } from '../../libs/service-kit/index.js';
import { TOKEN, scrape, startTestService } from './helpers.js';
import { parsePrometheusText, sampleValue } from './prom-text.js';

describe('the Prometheus text checker', () => {
  it('accepts well-formed text', () => {
    const f = parsePrometheusText(
      [
        '# HELP uae_x_total Things, with "quotes" and \\\\ backslash.',
        '# TYPE uae_x_total counter',
        'uae_x_total{a="1",b="q\\"\\n\\\\"} 3',
        'uae_x_total{a="2"} 1e3 1700000000000',
        '# TYPE uae_h histogram',
        'uae_h_bucket{le="0.1"} 1',
        'uae_h_bucket{le="+Inf"} 2',
        'uae_h_sum 0.3',
        'uae_h_count 2',
        'uae_g NaN',
        // prom-client's spelling of NaN (Go's ParseFloat, which Prometheus uses, ignores case)
        'uae_lag Nan',
        'uae_inf -inf',
        '',
      ].join('\n'),
    );
    expect(sampleValue(f, 'uae_lag')).toBeNaN();
    expect(sampleValue(f, 'uae_inf')).toBe(-Infinity);
    expect(sampleValue(f, 'uae_x_total', { b: 'q"\n\\' })).toBe(3);
    expect(f.get('uae_h')?.type).toBe('histogram');
    expect(f.get('uae_g')?.type).toBe('untyped');
  });

  it.each([
    ['a bad metric name', 'uae-x 1\n'],
    ['a missing value', 'uae_x{a="1"}\n'],
    ['an unquoted label', 'uae_x{a=1} 1\n'],
    ['a bad escape', 'uae_x{a="\\t"} 1\n'],
    ['a non-number', 'uae_x one\n'],
    ['a misspelt NaN', 'uae_x nann\n'],
    ['a signed NaN', 'uae_x -NaN\n'],
    ['a duplicate series', 'uae_x{a="1"} 1\nuae_x{a="1"} 2\n'],
    ['TYPE after samples', 'uae_x 1\n# TYPE uae_x gauge\n'],
    ['an unknown type', '# TYPE uae_x thing\n'],
    ['non-contiguous samples', '# TYPE uae_x gauge\nuae_x{a="1"} 1\n# TYPE uae_y gauge\nuae_y 1\nuae_x{a="2"} 1\n'],
    ['a negative counter', '# TYPE uae_c counter\nuae_c -1\n'],
    ['a histogram without +Inf', '# TYPE uae_h histogram\nuae_h_bucket{le="1"} 1\nuae_h_sum 1\nuae_h_count 1\n'],
    ['decreasing buckets', '# TYPE uae_h histogram\nuae_h_bucket{le="1"} 2\nuae_h_bucket{le="+Inf"} 1\nuae_h_sum 1\nuae_h_count 1\n'],
    ['no final newline', 'uae_x 1'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});

describe('service metrics', () => {
  it('lets services add uae_ metrics to the same registry and refuses other names', async () => {
    const m = createServiceMetrics({ processMetrics: false });
    const samples = m.counter({ name: 'uae_attack_samples_total', help: 'Samples attacked.', labelNames: ['outcome'] });
    samples.inc({ outcome: 'success' }, 3);
    m.gauge({ name: 'uae_attack_queue', help: 'Queued jobs.' }).set(2);
    m.histogram({ name: 'uae_attack_seconds', help: 'Attack time.', buckets: [1, 10] }).observe(4);
    expect(() => m.counter({ name: 'attack_total', help: 'x' })).toThrow(/must start with "uae_"/);
    const server = await startMetricsServer({ registry: m.registry, host: '127.0.0.1', port: 0 });
    try {
      const { body, status } = await scrape(server.url);
      expect(status).toBe(200);
      const f = parsePrometheusText(body);
      expect(sampleValue(f, 'uae_attack_samples_total', { outcome: 'success' })).toBe(3);
      expect(sampleValue(f, 'uae_attack_queue')).toBe(2);
      expect(sampleValue(f, 'uae_attack_seconds_bucket', { le: '10' })).toBe(1);
      const post = await fetch(server.url, { method: 'POST' });
      expect(post.status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('exports tfjs backend info and tensor memory when the service uses the backend', async () => {
    const svc = await startTestService({ UAE_BACKEND: 'cpu', UAE_AUTH_TOKEN: TOKEN }, { tensor: true });
    try {
      await svc.running.whenReady();
      const { tf } = await import('../../libs/tensor/index.js');
      const held = tf.zeros([256, 256]);
      const f = parsePrometheusText((await scrape(svc.running.addresses.metrics)).body);
      expect(sampleValue(f, 'uae_tfjs_backend_info', { backend: 'cpu', provider: 'cpu' })).toBe(1);
      expect(f.get('uae_tfjs_backend_info')?.samples.length).toBe(1);
      expect(sampleValue(f, 'uae_tfjs_tensors')).toBeGreaterThanOrEqual(1);
      expect(sampleValue(f, 'uae_tfjs_memory_bytes')).toBeGreaterThanOrEqual(256 * 256 * 4);
      expect(sampleValue(f, 'uae_tfjs_data_buffers')).toBeGreaterThanOrEqual(1);
      expect(svc.logs.lines.some((l) => l.msg === 'tfjs backend ready' && l.backend === 'cpu')).toBe(true);
      held.dispose();
    } finally {
      await svc.running.shutdown();
    }
  });
});
