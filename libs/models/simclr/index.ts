/** SimCLR (the paper's Section 4.6): encoders, augmentations, NT-Xent, the model, its training, save/load and the linear probe. */
export { RESNET_SPECS, BATCH_NORM, scaleSpec, heInitializer, resnetEncoder, layerFlops, modelFlops, type ResnetSpec, type ResnetName } from './resnet.js';
export {
  SIMCLR_AUGMENT_DEFAULTS,
  SIMCLR_AUGMENT_KEY,
  resolveAugmentOptions,
  augmentRng,
  drawAugmentParams,
  repeatParams,
  applyAugmentation,
  simclrAugment,
  type SimclrAugmentOptions,
  type ResolvedAugmentOptions,
  type AugmentParams,
} from './augment.js';
export { DEFAULT_TEMPERATURE, l2Normalize, ntXent, ntXentPerView, ntXentAgainstBank } from './nt-xent.js';
export {
  SimclrModel,
  SIMCLR_KINDS,
  SIMCLR_DEFAULTS,
  FEATURES_LAYER,
  PROJECTION_LAYER,
  buildSimclrNetwork,
  resolveSimclrOptions,
  createSimclr,
  trainSimclr,
  evaluateContrastiveLoss,
  type SimclrKind,
  type SimclrOptions,
  type ResolvedSimclrOptions,
  type ReferenceSource,
  type SimclrTrainOptions,
} from './model.js';
export { saveSimclr, loadSimclr, simclrToArtifacts, simclrFromArtifacts, isSimclrMetadata, REFERENCE_BIN, type SimclrMetadata, type SimclrArtifacts } from './io.js';
export { linearProbe, LINEAR_PROBE_DEFAULTS, type LinearProbeOptions, type LinearProbeResult } from './probe.js';
