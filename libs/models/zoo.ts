/**
 * Creation and re-wrapping of every autoencoder kind (the paper's Sections 4.4–4.5). Kept
 * apart from autoencoders.ts, which the kind modules build on, so that the
 * modules have no import cycle.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { tf } from '../tensor/index.js';
import { LayersAutoencoder, buildConvAE, buildDenseAE, compileAutoencoder } from './autoencoders.js';
import { createSparseAE, wrapSparseAE, type SparseAutoencoder } from './sparse-ae.js';
import { createAdversarialAE, wrapAdversarialAE, type AdversarialAutoencoder } from './adversarial-ae.js';
import { createConcreteAE, wrapConcreteAE, type ConcreteAutoencoder } from './concrete-ae.js';
import type { AutoencoderKind, CreateAutoencoderOptions } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';

/** A fresh, compiled reference autoencoder (typed by kind where the kind has its own class). */
export function createAutoencoder(kind: 'sparse-ae', inputShape: number[], opts?: CreateAutoencoderOptions): SparseAutoencoder;
export function createAutoencoder(kind: 'adversarial-ae', inputShape: number[], opts?: CreateAutoencoderOptions): AdversarialAutoencoder;
export function createAutoencoder(kind: 'concrete-ae', inputShape: number[], opts?: CreateAutoencoderOptions): ConcreteAutoencoder;
export function createAutoencoder(kind: AutoencoderKind, inputShape: number[], opts?: CreateAutoencoderOptions): LayersAutoencoder;
export function createAutoencoder(
  kind: AutoencoderKind,
  inputShape: number[],
  opts: CreateAutoencoderOptions = {},
): LayersAutoencoder {
  switch (kind) {
    case 'dense-ae':
    case 'conv-ae': {
      const model = kind === 'dense-ae' ? buildDenseAE(inputShape, opts) : buildConvAE(inputShape, opts);
      const optimizer = compileAutoencoder(kind, model);
      return new LayersAutoencoder(kind, inputShape, model, optimizer);
    }
    case 'sparse-ae':
      return createSparseAE(inputShape, opts);
    case 'adversarial-ae':
      return createAdversarialAE(inputShape, opts);
    case 'concrete-ae':
      return createConcreteAE(inputShape, opts);
    default:
      throw new Error(`unknown autoencoder kind "${kind as string}"; expected one of ${AUTOENCODER_KINDS.join(', ')}`);
  }
}

/**
 * Wraps a loaded layers model as `kind`, compiled afresh (fresh optimizer
 * state). Takes ownership of `model` and `discriminator` only on success.
 */
export function wrapAutoencoder(
  kind: AutoencoderKind,
  inputShape: number[],
  model: tfl.LayersModel,
  options: CreateAutoencoderOptions = {},
  discriminator?: tfl.LayersModel,
): LayersAutoencoder {
  switch (kind) {
    case 'dense-ae':
    case 'conv-ae': {
      let optimizer: tf.Optimizer | undefined;
      try {
        optimizer = compileAutoencoder(kind, model);
        return new LayersAutoencoder(kind, inputShape, model, optimizer);
      } catch (e) {
        optimizer?.dispose();
        throw e;
      }
    }
    case 'sparse-ae':
      return wrapSparseAE(inputShape, model, options);
    case 'adversarial-ae':
      return wrapAdversarialAE(inputShape, model, options, discriminator);
    case 'concrete-ae':
      return wrapConcreteAE(inputShape, model, options);
    default:
      throw new Error(`unknown autoencoder kind "${kind as string}"; expected one of ${AUTOENCODER_KINDS.join(', ')}`);
  }
}
