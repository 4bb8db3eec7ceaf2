/**
 * autoencoderSize (what budgets are checked against before anything is
 * allocated) equals the parameter count of the model the zoo builds, for
 * every kind; a concrete AE with k > d is refused before the backend sees it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS, autoencoderSize, createAutoencoder, type AutoencoderKind } from '../../libs/models/index.js';

beforeAll(async () => {
  await initBackend();
});

const cases: Array<[AutoencoderKind, number[], Record<string, unknown>]> = [
  ['dense-ae', [12], { hidden: 5 }],
  ['sparse-ae', [3, 4], { hidden: 7 }],
  ['conv-ae', [8, 8, 2], {}],
  ['adversarial-ae', [10], { latent: 3, widths: [6, 4], discriminatorWidths: [5] }],
  ['concrete-ae', [20], { k: 4, widths: [6] }],
];

describe('autoencoderSize', () => {
  it('covers every kind', () => {
    expect(cases.map((c) => c[0]).sort()).toEqual([...AUTOENCODER_KINDS].sort());
  });

  it.each(cases)('%s %j: parameters equal the built model\'s (discriminator included)', (kind, shape, opts) => {
    const ae = createAutoencoder(kind, shape, { seed: 1, ...opts });
    try {
      const disc = (ae as unknown as { discriminator?: { countParams(): number } }).discriminator;
      const built = ae.model.countParams() + (disc ? disc.countParams() : 0);
      expect(autoencoderSize(kind, shape, opts).parameters).toBe(built);
    } finally {
      ae.dispose();
    }
  });

  it('refuses a concrete AE selecting more features than the input has (the wasm trap of issue 10)', () => {
    expect(() => autoencoderSize('concrete-ae', [77], { k: 1_000_000 })).toThrow(/k = 1000000 features, but the samples have only 77/);
    expect(() => createAutoencoder('concrete-ae', [77], { k: 78 })).toThrowError(expect.objectContaining({ name: 'ModelInputError', field: 'k' }));
  });
});
