/**
 * The size of an autoencoder before it is built: trainable parameters
 * (discriminator included for adversarial-ae) and the widest layer output per
 * sample, from the same defaults the builders use. For budgets (libs/limits)
 * checked before a request allocates anything (a concrete AE's k ≤ d too).
 */
import { DENSE_AE_HIDDEN, ModelInputError } from './autoencoders.js';
import { AAE_DEFAULTS } from './adversarial-ae.js';
import { CONCRETE_AE_DEFAULTS, checkConcreteK } from './concrete-ae.js';
import type { AutoencoderKind, CreateAutoencoderOptions } from './types.js';

export interface AutoencoderSize {
  parameters: number;
  /** Elements of the widest activation of one sample. */
  widestActivation: number;
}

/** Dense chain d0 → d1 → … : weights and biases. */
function dense(widths: number[]): number {
  let n = 0;
  for (let i = 1; i < widths.length; i++) n += widths[i - 1]! * widths[i]! + widths[i]!;
  return n;
}

export function autoencoderSize(kind: AutoencoderKind, inputShape: number[], opts: CreateAutoencoderOptions = {}): AutoencoderSize {
  const d = inputShape.reduce((a, b) => a * b, 1);
  switch (kind) {
    case 'dense-ae':
    case 'sparse-ae': {
      const h = opts.hidden ?? DENSE_AE_HIDDEN;
      return { parameters: dense([d, h, d]), widestActivation: Math.max(d, h) };
    }
    case 'conv-ae': {
      const c = inputShape[2] ?? 1;
      const filters = [c, 16, 8, 8, 16, c];
      let parameters = 0;
      for (let i = 1; i < filters.length; i++) parameters += 25 * filters[i - 1]! * filters[i]! + filters[i]!;
      const hw = (inputShape[0] ?? 1) * (inputShape[1] ?? 1);
      return { parameters, widestActivation: hw * Math.max(16, c) };
    }
    case 'adversarial-ae': {
      const latent = opts.latent ?? AAE_DEFAULTS.latent;
      const widths = opts.widths ?? AAE_DEFAULTS.widths;
      const disc = opts.discriminatorWidths ?? AAE_DEFAULTS.discriminatorWidths;
      const parameters = dense([d, ...widths, latent]) + dense([latent, ...[...widths].reverse(), d]) + dense([latent, ...disc, 1]);
      return { parameters, widestActivation: Math.max(d, ...widths, ...disc) };
    }
    case 'concrete-ae': {
      const k = opts.k ?? CONCRETE_AE_DEFAULTS.k;
      checkConcreteK(k, d);
      const widths = opts.widths ?? CONCRETE_AE_DEFAULTS.widths;
      // the selection logits [k, d], then k → widths → d
      return { parameters: k * d + dense([k, ...widths, d]), widestActivation: Math.max(d, k, ...widths) };
    }
    default:
      throw new ModelInputError(`unknown autoencoder kind "${kind as string}"`, 'kind');
  }
}
