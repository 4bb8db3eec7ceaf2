/**
 * The results document `uae study --doc` writes (cli/study-doc.ts): the
 * regenerating command without run-only flags, headings one level down, and
 * the hand-written text below the end marker kept byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { END_MARKER, handWritten, regeneratingCommand, studyDocText, type MachineInfo } from '../../cli/study-doc.js';

const machine: MachineInfo = { cpus: 2, cpuModel: 'Test CPU', memoryGiB: 24, os: 'Linux 6.1', node: 'v20.0.0', loadAverage: 1.5 };

describe('regeneratingCommand', () => {
  it('drops --resume, --force, --quiet and --json, keeps the rest, quotes what a shell would split, and names the data folder', () => {
    expect(regeneratingCommand(['study', 'examples/a b.json', '--out', 'runs/x', '--resume', '--seeds', '0,1,2', '--force', '--doc', 'docs/results.md'], { UAE_DATA_DIR: '/data/fashion mnist' })).toBe(
      "UAE_DATA_DIR='/data/fashion mnist' npx uae study 'examples/a b.json' --out runs/x --seeds 0,1,2 --doc docs/results.md",
    );
    expect(regeneratingCommand(['study', 'f.json', '--quiet', '--json'], {})).toBe('npx uae study f.json');
  });
});

describe('studyDocText', () => {
  const base = { title: 'Results', studyMd: '# Study: s\n\nText.\n\n## Table 4\n\n### `c`: row\n', args: ['study', 'f.json', '--out', 'o'], machine, finished: '2026-12-03T12:00:00.000Z', seconds: 12.4 };

  it('puts the command, the machine and study.md (headings one level down) above the end marker', () => {
    const text = studyDocText(base);
    expect(text).toContain('# Results\n\nGenerated 2026-12-03 by:\n\n```sh\nnpx uae study f.json --out o\n```\n');
    expect(text).toContain('Machine: 2 × Test CPU, 24 GiB, Linux 6.1, Node v20.0.0; load average 1.5');
    expect(text).toContain('took 12 s');
    expect(text).toContain('\n## Study: s\n\nText.\n\n### Table 4\n\n#### `c`: row\n');
    expect(text.endsWith(`${END_MARKER}\n`)).toBe(true);
  });

  it('says which commit computed each cell and how long it took', () => {
    const text = studyDocText({ ...base, cells: [{ id: 'c', commit: 'f16f228b55dc8748', startedAt: '2026-12-03T10:11:11.342Z', finishedAt: '2026-12-03T10:29:28.061Z' }, { id: 'd' }] });
    expect(text).toContain('Cells computed by: `c` (f16f228b55, 2026-12-03 10:11 UTC, 18 min); `d` (commit unknown, ? UTC).');
  });

  it('keeps everything below the marker, and all of a file that has none', () => {
    const hand = '## Analysis\n\nWhat it means.\n';
    const once = studyDocText({ ...base, existing: hand });
    expect(once.endsWith(`${END_MARKER}\n\n${hand}`)).toBe(true);
    const twice = studyDocText({ ...base, studyMd: '# Study: s\n\nNew numbers.\n', existing: once });
    expect(twice).toContain('New numbers.');
    expect(twice).not.toContain('\nText.\n');
    expect(handWritten(twice)).toBe(hand);
    expect(handWritten(undefined)).toBe('');
  });
});
