import { describe, expect, it } from 'vitest';
import {
  BusValidationError,
  createSubjects,
  jobEventSubject,
  jobStateKey,
  parseAckSubject,
  parseJobEventSubject,
  parseShardSubject,
  patternWithin,
  shardMsgId,
  shardResultKey,
  shardSubject,
  subjectMatches,
  validateArtifactKey,
  validateId,
} from '../../libs/bus/index.js';

describe('subjects', () => {
  it('builds and parses job event and shard subjects', () => {
    expect(jobEventSubject('job-1', 'progress')).toBe('uae.v1.jobs.job-1.progress');
    expect(parseJobEventSubject('uae.v1.jobs.job-1.completed')).toEqual({ jobId: 'job-1', event: 'completed' });
    expect(parseJobEventSubject('uae.v1.jobs.job-1.exploded')).toBeNull();
    expect(parseJobEventSubject('uae.v1.jobs.a.b.created')).toBeNull();
    expect(shardSubject('job_2', 17)).toBe('uae.v1.work.attack.job_2.17');
    expect(parseShardSubject('uae.v1.work.attack.job_2.17')).toEqual({ kind: 'attack', jobId: 'job_2', shard: '17' });
    expect(shardMsgId('job_2', 17)).toBe('attack.job_2.17');
    expect(shardResultKey('job_2', 17)).toBe('jobs/job_2/attack/000017');
    expect(jobStateKey('job_2')).toBe('jobs.job_2');

    const s = createSubjects('t1.uae.v1');
    expect(s.jobEvent('x', 'created')).toBe('t1.uae.v1.jobs.x.created');
    expect(s.parseJobEvent('t1.uae.v1.jobs.x.created')).toEqual({ jobId: 'x', event: 'created' });
    expect(s.parseJobEvent('uae.v1.jobs.x.created')).toBeNull();
    expect(s.jobShards('x')).toBe('t1.uae.v1.work.attack.x.*');
  });

  it('rejects ids with dots, wildcards, whitespace or slashes, naming the field', () => {
    for (const bad of ['', 'a.b', 'a*', 'a>', 'a b', 'a/b', 'tab\t', 'x'.repeat(129)]) {
      expect(() => validateId(bad, 'jobId')).toThrow(BusValidationError);
      expect(() => jobEventSubject(bad, 'created')).toThrow(/jobId/);
    }
    expect(() => shardSubject('ok', -1)).toThrow(/shard/);
    expect(() => shardSubject('ok', 1.5)).toThrow(/shard/);
    expect(() => jobEventSubject('ok', 'nope' as never)).toThrow(/event/);
    expect(() => createSubjects('a..b')).toThrow(BusValidationError);
  });

  it('matches NATS wildcards', () => {
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.*.c', 'a.b.d')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
    expect(patternWithin('uae.v1.jobs.*.progress', 'uae.v1.jobs.>')).toBe(true);
    expect(patternWithin('uae.v1.>', 'uae.v1.jobs.>')).toBe(false);
    expect(patternWithin('uae.v1.jobs.x.*', 'uae.v1.jobs.*.*')).toBe(true);
  });

  it('validates artifact keys as safe relative paths', () => {
    expect(validateArtifactKey('datasets/mnist/train-images.idx3-ubyte')).toBeTruthy();
    for (const bad of ['', '/a', 'a/', 'a//b', '..', 'a/../b', '.git/x', 'a\\b', 'a b']) {
      expect(() => validateArtifactKey(bad)).toThrow(BusValidationError);
    }
  });

  it('parses JetStream ack subjects (v1 and v2 forms)', () => {
    expect(parseAckSubject('$JS.ACK.UAE_WORK.UAE_workers.3.42.57.1700000000000000000.5')).toEqual({
      stream: 'UAE_WORK',
      deliveryCount: 3,
      streamSeq: 42,
    });
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH.UAE_WORK.UAE_workers.2.7.9.1700000000000000000.0.token')).toEqual({
      stream: 'UAE_WORK',
      deliveryCount: 2,
      streamSeq: 7,
    });
    expect(parseAckSubject('_INBOX.abc')).toBeNull();
  });
});
