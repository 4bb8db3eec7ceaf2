/**
 * `npm run demo`: the embedded default — the whole augmentation pipeline
 * (the paper's Sections 3.5 and 4.1) on the Fashion-MNIST slice bundled with the tests,
 * sized to finish in a few minutes on 2 CPU cores: train the reference conv
 * AE, generate MINE-UAEs (conv sampler) and L2-UAEs for every training
 * sample, retrain from scratch per method next to GA and the `repeat`
 * control, evaluate, print the table and write report.html.
 *
 * Extra arguments are passed to `uae pipeline` and override the defaults,
 * e.g. `npm run demo -- --train-samples 200 --iterations 40 --mine-steps 20`.
 */
import { Command } from 'commander';
import { pipelineCommand } from './commands/pipeline.js';

const slice = new URL('../tests/fixtures/fashion-mnist-slice', import.meta.url).pathname;
export const DEMO_ARGS = [
  '--dataset', `idx:${slice}`,
  '--model', 'conv-ae',
  '--methods', 'mine,init-noise,l2,ga-0.05,repeat',
  '--train-samples', '64',
  '--test-samples', '500',
  '--epochs', '40',
  '--retrain-epochs', '40',
  '--batch', '32',
  '--iterations', '10',
  '--mine-steps', '5',
  '--classifier-epochs', '30',
  '--seed', '0',
  '--out', '.uae/demo',
];

const program = new Command().name('demo').addCommand(pipelineCommand(), { isDefault: true });
const extra = process.argv.slice(2);
// Each demo replaces its own .uae/demo/ (unless continued with --resume, or written elsewhere with --out).
const replace = extra.includes('--resume') || extra.includes('--out') ? [] : ['--force'];
try {
  await program.parseAsync([...DEMO_ARGS, ...replace, ...extra], { from: 'user' });
} catch (e) {
  process.stderr.write(`demo: ${(e as Error).message}\n`);
  process.exitCode = 2;
}
