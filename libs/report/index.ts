/** libs/report: a self-contained report.html (tables, inline SVG charts, PNG image grids). */
export type { ReportInput, ReportMethods, ReportMethodMetrics, OriginalMetrics, ReportImages, ReportTrace, RenderOptions } from './types.js';
export { renderReport, writeReport, escapeHtml, formatError, formatPercent, formatSeconds } from './html.js';
export { renderSvg, inlineSvg, traceChart, lossChart, asrChart, errorChart } from './charts.js';
export {
  renderImageGrid,
  gridSize,
  sampleLayout,
  viridis,
  viridisCssGradient,
  GRID_PAD,
  GRID_GAP,
  GRID_MARKER,
  STRIP_HEIGHT,
  type ImageGrid,
  type ImageGridOptions,
  type Rgb,
} from './image-grid.js';
export { reportInputFromAugmentation, pickSamples, type FromAugmentationOptions } from './from-augmentation.js';
export { robustnessChart, miChart, type RobustnessSeries, type MiRow } from './robustness-chart.js';
export { renderColumnGrid, type ColumnGrid, type GridColumn } from './column-grid.js';
export { renderSupervisedReport, writeSupervisedReport, type SupervisedReportInput } from './supervised.js';
