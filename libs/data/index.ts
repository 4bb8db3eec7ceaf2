/** libs/data: dataset file formats — IDX (MNIST family) and NumPy .npy. */
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
export { parseNpy, encodeNpy, readNpy, writeNpy, NpyFormatError, type NpyArray, type NpyData, type NpyDtype } from './npy.js';
