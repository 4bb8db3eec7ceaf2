/** libs/models: the reference autoencoders (ALGORITHMS.md §6), their training and serialisation. */
export type {
  Autoencoder,
  AutoencoderKind,
  AutoencoderArtifacts,
  CreateAutoencoderOptions,
  EpochReport,
  TrainOptions,
  TrainResult,
} from './types.js';
export { AUTOENCODER_KINDS } from './types.js';
export {
  createAutoencoder,
  buildDenseAE,
  buildConvAE,
  compileAutoencoder,
  LayersAutoencoder,
  DENSE_AE_HIDDEN,
  DENSE_AE_LEARNING_RATE,
  CONV_AE_ADADELTA,
} from './autoencoders.js';
export { trainAutoencoder, evaluateLoss, DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE } from './train.js';
export { toArtifacts, fromArtifacts, saveAutoencoder, loadAutoencoder, MODEL_JSON, WEIGHTS_BIN } from './io.js';
export { Classifier, createClassifier, trainClassifier, type ClassifierOptions } from './classifier.js';
export { trainModel, evaluateModelLoss } from './train.js';
