/** `uae mine estimate`: MINE on two .npy arrays of paired rows. */
import { Command } from 'commander';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { npyFloat32, readNpy } from '../../libs/data/index.js';
import { estimateMutualInformation } from '../../libs/mine/index.js';
import { int } from '../options.js';
import { forFlag } from '../conventions.js';
import { progressSink } from '../progress.js';

export function mineCommand(): Command {
  const mine = new Command('mine').description('mutual information estimation');
  mine
    .command('estimate')
    .description('MI (nats) between paired rows of two .npy arrays, by MINE')
    .requiredOption('--x <file>', '.npy, first axis = pairs')
    .requiredOption('--y <file>', '.npy, same number of rows')
    .option('--steps <n>', 'training steps', int('--steps'), 1000)
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--quiet', 'no progress output')
    .option('--json', 'machine-readable output (implies --quiet)')
    .action(async (o) => {
      const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
      const info = await initBackend();
      const [a, b] = await Promise.all([forFlag('--x', o.x, () => readNpy(o.x)), forFlag('--y', o.y, () => readNpy(o.y))]);
      if (a.shape[0] !== b.shape[0]) throw new Error(`--x has ${a.shape[0]} rows but --y has ${b.shape[0]}`);
      progress.log(`backend ${info.name}; MINE on ${a.shape[0]} pairs, ${o.steps} steps`);
      const x = tf.tensor(npyFloat32(a), a.shape);
      const y = tf.tensor(npyFloat32(b), b.shape);
      const est = estimateMutualInformation(x, y, { steps: o.steps, seed: o.seed });
      tf.dispose([x, y]);
      console.log(o.json ? JSON.stringify({ mi: est.mi, steps: o.steps, pairs: a.shape[0] }) : `MI ≈ ${est.mi.toFixed(4)} nats (${a.shape[0]} pairs, ${o.steps} steps)`);
    });
  return mine;
}
