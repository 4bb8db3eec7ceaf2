/** The pipeline's report.html: the results table, charts and image grids (libs/report). */
import type { Dataset } from '../libs/data/index.js';
import type { AugmentationReport } from '../libs/augment/index.js';
import { reportInputFromAugmentation, writeReport } from '../libs/report/index.js';

/**
 * `imageShape` is the dataset's native sample shape: image grids need it even
 * when a dense model saw flattened vectors.
 */
export async function writePipelineReport(dir: string, ds: Dataset, imageShape: number[], report: AugmentationReport, config: object): Promise<string> {
  return writeReport(dir, reportInputFromAugmentation(report, { trainX: ds.train.x, inputShape: imageShape, config }));
}
