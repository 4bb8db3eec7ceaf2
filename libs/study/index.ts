export { PAPER_ROWS, PAPER_ROW_KEYS, PAPER_TABLES, paperRow, lowerIsBetter, type PaperRow, type PaperRowKey, type PaperValue, type PaperMetric, type PaperTable, type RowRequirement } from './paper.js';
export { parseStudyFile, studyFileText, overrideDocument, StudyFileError, STUDY_FILE_KIND, type Study, type StudyCell, type StudyFileInput, type BudgetOverrides } from './study-file.js';
export { compareCell, armFor, MINE_ARM, type CellComparison, type ComparisonLine, type Ours } from './compare.js';
