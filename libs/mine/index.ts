export { MineConfigSchema, mineConfig, type MineConfig, type MineConfigInput } from './config.js';
export { StatisticsNetwork, statisticsNetworkSize, drawShapeFor, largestPerSampleBytes, type SampleKey } from './statistics-network.js';
export { ConvSampler, RandomSampler, type PairSampler, type PairDraws, type FirstConv } from './samplers.js';
export { PerSampleMine } from './per-sample-mine.js';
export {
  estimateMutualInformation,
  estimateMutualInformationAsync,
  type MineEstimate,
  type MineEstimateOptions,
  type MineEstimateAsyncOptions,
} from './standalone.js';
