/**
 * The custom layer of our saved models, for whichever tfjs loads them:
 * ConcreteSelect, the concrete autoencoder's selector (Balın, Abid & Zou 2019).
 * Its weights are logits [units, d]; as a saved model runs it (inference), each
 * node is the hard argmax of its logits, so the layer gathers the selected
 * features x[:, argmax(logits, 1)]. Training (concrete-ae.ts) adds the
 * Gumbel-softmax relaxation on top of this class.
 *
 * A concrete-ae model.json names the class "ConcreteSelect"; stock
 * @tensorflow/tfjs needs it registered before loading, in one line:
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   registerUaeLayers(tf);
 *   const model = await tf.loadLayersModel(modelFiles('run/models/original'));
 *
 * The class is built on the namespace it is given, so it registers with the
 * caller's copy of tfjs (a bundler may give the caller another copy than ours).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** What the layer needs of a tfjs namespace; `import * as tf from '@tensorflow/tfjs'` has it all. */
export interface TfjsLayersApi {
  layers: { Layer: typeof tfl.layers.Layer };
  initializers: { glorotNormal: typeof tfl.initializers.glorotNormal };
  serialization: Pick<typeof tfc.serialization, 'registerClass' | 'SerializationMap'>;
  tidy: typeof tfc.tidy;
  gather: typeof tfc.gather;
  argMax: typeof tfc.argMax;
}

export interface ConcreteSelectArgs {
  units: number;
  /** Seed of the logits' Glorot-normal initialiser (Balın's choice); omitted: unseeded. */
  seed?: number;
  name?: string;
  inputShape?: number[];
  batchInputShape?: (number | null)[];
  trainable?: boolean;
  dtype?: tfc.DataType;
}

export const CONCRETE_SELECT = 'ConcreteSelect';

/** The ConcreteSelect layer class on `tf`'s Layer (not registered: see registerUaeLayers). */
export function concreteSelectLayer(tf: TfjsLayersApi) {
  return class ConcreteSelect extends tf.layers.Layer {
    static readonly className = CONCRETE_SELECT;
    readonly units: number;
    readonly seed: number | undefined;
    logits: tfl.LayerVariable | undefined;

    constructor(args: ConcreteSelectArgs) {
      super(args);
      if (!Number.isInteger(args.units) || args.units <= 0) throw new Error(`ConcreteSelect: units must be a positive integer, got ${args.units}`);
      this.units = args.units;
      this.seed = args.seed;
    }

    override build(inputShape: tfl.Shape | tfl.Shape[]): void {
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
      if (shape.length !== 2 || shape[1] == null) throw new Error(`ConcreteSelect needs [B, d] inputs, got [${shape.join(', ')}]`);
      this.logits = this.addWeight(
        'logits',
        [this.units, shape[1]],
        'float32',
        tf.initializers.glorotNormal(this.seed === undefined ? {} : { seed: this.seed }),
        undefined,
        true,
      );
      this.built = true;
    }

    override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
      return [shape[0]!, this.units];
    }

    /** Inference: the hard selection, x[:, argmax(logits)]. */
    override call(inputs: tfc.Tensor | tfc.Tensor[]): tfc.Tensor {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      return tf.tidy(() => tf.gather(x, tf.argMax(this.logitsTensor(), 1), 1));
    }

    logitsTensor(): tfc.Tensor2D {
      if (!this.logits) throw new Error('ConcreteSelect has not been built');
      return this.logits.read() as tfc.Tensor2D;
    }

    override getConfig(): tfc.serialization.ConfigDict {
      return { ...super.getConfig(), units: this.units };
    }
  };
}

/**
 * Registers our custom layers with `tf`'s serialization, so that
 * `tf.loadLayersModel` can rebuild every model we save. A class already
 * registered under the name (ours, when `tf` is the copy libs/models uses) is kept.
 */
export function registerUaeLayers(tf: TfjsLayersApi): void {
  if (tf.serialization.SerializationMap.getMap().classNameMap[CONCRETE_SELECT]) return;
  tf.serialization.registerClass(concreteSelectLayer(tf));
}
