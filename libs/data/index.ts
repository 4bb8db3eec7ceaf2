/** libs/data: dataset readers. For now only the IDX (MNIST-family) format. */
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
