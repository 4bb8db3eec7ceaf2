/** The pipeline's report.html: the results table, verdicts, charts and image grids (libs/report). */
import type { AugmentationReport, StudyMetrics } from '../libs/augment/index.js';
import { reportInputFromAugmentation, writeReport } from '../libs/report/index.js';

/**
 * `imageShape` is the dataset's native sample shape: image grids need it even
 * when a dense model saw flattened vectors. Images and traces come from
 * `report` (one seed); the table, intervals and verdicts from `metrics`.
 */
export async function writePipelineReport(dir: string, imageShape: number[], report: AugmentationReport, metrics: StudyMetrics, config: object): Promise<string> {
  return writeReport(dir, reportInputFromAugmentation(report, { trainX: report.trainX, inputShape: imageShape, config, study: metrics }));
}
