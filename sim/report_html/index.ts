// The HTML report kit: describe a report as data (spec.ts), render one self-contained file
// (render.ts). Used by `pvsim compare --html` (sim/compare/html.ts) and meant for
// `pvsim run --html` and `pvsim sweep --html`. docs/compare.md, "The HTML report".
export type { BarChartSpec, Block, CdfChartSpec, ChartSpec, Colour, Dash, Datum, HtmlReport, LineChartSpec, ReportSection, TableCell, TableSpec, TextBlock } from './spec.ts';
export { cdfFromHistogram, cdfFromSamples } from './spec.ts';
export { escapeHtml, jsonForScript, loadChartLibrary, renderHtmlReport, scriptSafe, type ChartLibrary } from './render.ts';
