/**
 * Run by stock-tfjs.test.ts in a process of its own: loads a saved model with
 * stock @tensorflow/tfjs (its CPU backend) and nothing of uae but
 * registerUaeLayers and the file IOHandler (neither imports our backend
 * switch or kernels), and prints the model's predictions for an input.
 *
 *   node --import tsx stock-tfjs-child.ts MODEL_DIR INPUT.json [--no-register | --file-url]
 *
 * --file-url loads `file://MODEL_DIR/model.json` after registerFileScheme(tf).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { registerUaeLayers } from '../../libs/models/layers.js';
import { modelFiles, registerFileScheme } from '../../libs/models/file-handler.js';

const [dir, inputPath, flag] = process.argv.slice(2);
if (!dir || !inputPath) throw new Error('usage: stock-tfjs-child.ts MODEL_DIR INPUT.json [--no-register | --file-url]');
await tf.setBackend('cpu');
if (flag !== '--no-register') registerUaeLayers(tf);
const input = JSON.parse(await readFile(inputPath, 'utf8')) as { shape: number[]; values: number[] };
try {
  if (flag === '--file-url') registerFileScheme(tf);
  const model = await tf.loadLayersModel(flag === '--file-url' ? `file://${dir}/model.json` : modelFiles(dir));
  const x = tf.tensor(input.values, input.shape);
  const y = model.predict(x) as tf.Tensor;
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), shape: y.shape, values: Array.from(y.dataSync()) }) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
}
