/** libs/data: dataset file formats — IDX (MNIST family), NumPy .npy and .npz, CSV tables, CIFAR-10 binary batches, SVHN .mat (MATLAB v5). */
export {
  parseIdx,
  encodeIdx,
  readIdx,
  writeIdx,
  readIdxImagesRaw,
  loadIdxImages,
  loadIdxLabels,
  loadIdxDataset,
  checkCounts,
  IdxFormatError,
  type IdxArray,
  type IdxImages,
  type IdxLabels,
} from './idx.js';
export { parseNpy, encodeNpy, readNpy, writeNpy, npyFloat32, npyInt32, NpyFormatError, type NpyArray, type NpyData, type NpyDtype } from './npy.js';
export { parseNpz, encodeNpz, readNpz, writeNpz, type NpzEntry } from './npz.js';
export {
  parseCsv,
  tabularFromCsv,
  loadCsvDataset,
  loadMiceProtein,
  CsvFormatError,
  type CsvDatasetOptions,
  type TabularDataset,
  type TabularSplit,
} from './csv.js';
export {
  loadDataset,
  knownDatasetShape,
  subsetDataset,
  subsetSplit,
  sourceRows,
  datasetFromNpyArrays,
  DatasetNotFoundError,
  FASHION_MNIST_DIRS,
  type Dataset,
  type DatasetSplit,
  type LoadDatasetOptions,
  type NpyDatasetArrays,
} from './registry.js';
export { parseCifarBatch, readCifarBatch, loadCifar10, findCifar10Dir, CifarFormatError, CIFAR10_CLASSES, type Cifar10, type CifarSplit } from './cifar.js';
export { parseMat, readMat, MatFormatError, type MatArray } from './mat.js';
export { readSvhnMat, loadSvhn, findSvhnDir, SVHN_CLASSES, type SvhnSplit } from './svhn.js';
