/**
 * planStages with rounds: the stage plan the orchestrator's driver walks (and
 * resumes by index) — per arm every round's generate → retrain → evaluate,
 * named as runAugmentation names them.
 */
import { describe, expect, it } from 'vitest';
import { planStages, roundLabel } from '../../libs/augment/index.js';

describe('planStages with rounds', () => {
  it('one round: the plan as before (no round prefix)', () => {
    expect(planStages(['mine', 'repeat']).map((s) => s.name)).toEqual([
      'train original',
      'evaluate original',
      'generate mine',
      'retrain mine',
      'evaluate mine',
      'generate repeat',
      'retrain repeat',
      'evaluate repeat',
    ]);
    expect(roundLabel(1, 1)).toBe('');
  });

  it('several rounds: arm k round r at 2 + 3·(k·R + r − 1), each arm round by round', () => {
    const plan = planStages(['mine', 'init-noise'], 3);
    expect(plan).toHaveLength(2 + 2 * 3 * 3);
    ['mine', 'init-noise'].forEach((m, k) => {
      for (let r = 1; r <= 3; r++) {
        const i = 2 + 3 * (k * 3 + r - 1);
        expect(plan.slice(i, i + 3)).toEqual([
          { kind: 'generate', method: m, name: `round ${r} of 3: generate ${m}`, round: r },
          { kind: 'retrain', method: m, name: `round ${r} of 3: retrain ${m}`, round: r },
          { kind: 'evaluate', method: m, name: `round ${r} of 3: evaluate ${m}`, round: r },
        ]);
      }
    });
  });

  it('refuses a round count that is not an integer ≥ 1', () => {
    for (const r of [0, 1.5, -1]) expect(() => planStages(['mine'], r)).toThrow(/rounds must be an integer ≥ 1/);
  });
});
