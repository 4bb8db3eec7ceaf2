/**
 * What the attack needs from a model. Structural, so libs/models' autoencoders
 * and classifiers fit without an adapter.
 */
import type { tf } from '../tensor/index.js';

export interface AttackModel {
  /** Per-sample input shape; inputs are [B, ...inputShape] in [0, 1]. */
  readonly inputShape: number[];
  /** Autoencoders: the reconstruction (reconstruction criterion). */
  reconstruct?(x: tf.Tensor): tf.Tensor;
  /**
   * Any model: its per-sample training loss [B] (loss criterion). Supervised
   * models (the classifier) take the batch's labels, given as the cw criterion
   * gets them (AttackInput.labels); autoencoders ignore them.
   */
  perSampleLoss?(x: tf.Tensor, labels?: Int32Array): tf.Tensor1D;
  /** Classifiers: logits [B, classes] (Carlini–Wagner criterion). */
  logits?(x: tf.Tensor): tf.Tensor2D;
  /** The first conv layer's output incl. activation [B,H',W',F] (MINE conv sampler). */
  firstConv?(x: tf.Tensor4D): tf.Tensor4D;
}
