/** libs/models: the reference autoencoders (the paper's Sections 4.4–4.5), their training and serialisation. */
export type {
  Autoencoder,
  AutoencoderKind,
  AutoencoderArtifacts,
  CreateAutoencoderOptions,
  EpochReport,
  LayersModelArtifacts,
  TrainOptions,
  TrainResult,
  TrainStepContext,
  TrainStepResult,
} from './types.js';
export { AUTOENCODER_KINDS } from './types.js';
export {
  buildDenseAE,
  buildConvAE,
  compileAutoencoder,
  LayersAutoencoder,
  DENSE_AE_HIDDEN,
  DENSE_AE_LEARNING_RATE,
  CONV_AE_ADADELTA,
  ADAM_LEARNING_RATE,
  ModelInputError,
} from './autoencoders.js';
export { createAutoencoder, wrapAutoencoder } from './zoo.js';
export { SparseAutoencoder, SPARSE_AE_DEFAULTS, klSparsity } from './sparse-ae.js';
export { AdversarialAutoencoder, AAE_DEFAULTS, buildAdversarialAE, buildDiscriminator } from './adversarial-ae.js';
export { ConcreteAutoencoder, ConcreteSelect, CONCRETE_AE_DEFAULTS, buildConcreteAE, checkConcreteK, concreteTemperature } from './concrete-ae.js';
export { autoencoderSize, type AutoencoderSize } from './size.js';
export { trainAutoencoder, evaluateLoss, DEFAULT_EPOCHS, DEFAULT_BATCH_SIZE } from './train.js';
export { registerUaeLayers, concreteSelectLayer, CONCRETE_SELECT, type TfjsLayersApi, type ConcreteSelectArgs } from './layers.js';
export { modelFiles, readModelFiles, writeModelFiles, registerFileScheme, fileSchemeRouter } from './file-handler.js';
export {
  toArtifacts,
  fromArtifacts,
  saveAutoencoder,
  loadAutoencoder,
  saveClassifier,
  loadClassifier,
  classifierToArtifacts,
  classifierFromArtifacts,
  savedModelFamily,
  isClassifierMetadata,
  type ClassifierMetadata,
  type ClassifierArtifacts,
  MODEL_JSON,
  WEIGHTS_BIN,
  DISCRIMINATOR_DIR,
} from './io.js';
export {
  Classifier,
  createClassifier,
  compileClassifier,
  buildCnnClassifier,
  trainClassifier,
  CLASSIFIER_KINDS,
  CNN_ARCHITECTURES,
  type ClassifierKind,
  type CnnArchitecture,
  type ClassifierOptions,
} from './classifier.js';
export { trainModel, trainLoop, evaluateModelLoss, modelWeights, type BatchStep, type SplitEvaluator, type WeightKeeper } from './train.js';
export {
  trainClassifierAdversarially,
  adversarialTrainingConfig,
  pgdExamples,
  ADVERSARIAL_TRAINING_STEPS,
  type AdversarialTrainingOptions,
} from './adversarial-training.js';
export * from './simclr/index.js';
