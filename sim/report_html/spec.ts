// What an HTML report is made of: sections of charts, tables and text, described as plain data.
// The page renders them in the browser (charts) or at build time (tables, text); every string
// here may come from a guest (result lines, file names) and is treated as hostile by the
// renderer, never as markup.

/** A number to plot; null leaves a gap (a failed run, a missing baseline). */
export type Datum = number | null;

interface ChartBase {
  title: string;
  /** One sentence under the chart: what to read from it. */
  caption?: string;
  /**
   * Axis titles, with units ("virtual time (ms)", "slowdown (× native)"). For bar charts xLabel
   * names the categories and yLabel the values, whichever way the bars point.
   */
  xLabel: string;
  yLabel: string;
  /** Plot height in CSS pixels; default 320 (horizontal bars grow with their categories). */
  height?: number;
}

/** A series' colour: `#rrggbb`; others are ignored and the palette's next colour is used. */
export type Colour = string;

/**
 * Bars over categories (workloads, modes, ...). Series with `stacked` set are stacked on each
 * other: one stack per distinct `stack` name (all together when unnamed).
 */
export interface BarChartSpec extends ChartBase {
  kind: 'bar';
  categories: string[];
  series: { name: string; values: Datum[]; stack?: string; colour?: Colour }[];
  stacked?: boolean;
  /** Bars along the x axis (category labels on the left): for many or long categories. */
  horizontal?: boolean;
  /** A logarithmic value axis (values <= 0 are not drawn). */
  logValues?: boolean;
  /** Formats tooltips and value ticks: appended to the number ("×", " ms", " %"). */
  unit?: string;
  /** Fixed ends of the value axis (e.g. 0 and 100 for shares in %). */
  valueMin?: number;
  valueMax?: number;
}

/** How a line is drawn: lets series that share a colour (one mode, several I/O paths) differ. */
export type Dash = 'solid' | 'dashed' | 'dotted' | 'dashdot';

/** Lines through (x, y) points: time series, a value against a varied parameter. */
export interface LineChartSpec extends ChartBase {
  kind: 'line';
  series: { name: string; points: [number, Datum][]; colour?: Colour; dash?: Dash }[];
  xLog?: boolean;
  yLog?: boolean;
  yMin?: number;
  yMax?: number;
  /** Draw steps (a value holds until the next point) instead of straight segments. */
  stepped?: boolean;
  /** Show a marker at each point (default: only when a series has at most 50 points). */
  markers?: boolean;
  unit?: string;
}

/**
 * Cumulative distributions: each series' points are (x, fraction of samples <= x), fractions
 * rising from 0 to 1 (build them with cdfFromHistogram or cdfFromSamples). Drawn as steps.
 */
export interface CdfChartSpec extends ChartBase {
  kind: 'cdf';
  series: { name: string; points: [number, number][]; colour?: Colour; dash?: Dash }[];
  xLog?: boolean;
  unit?: string;
}

export type ChartSpec = BarChartSpec | LineChartSpec | CdfChartSpec;

export type TableCell = string | number | null;

export interface TableSpec {
  kind: 'table';
  title?: string;
  columns: { label: string; numeric?: boolean }[];
  rows: TableCell[][];
  /** Per row: 'good' or 'bad' tints it (an ordering that holds, a failed run). */
  rowStatus?: ('good' | 'bad' | null)[];
  /** Rendered folded (<details>), for long tables of detail. */
  collapsed?: boolean;
}

export interface TextBlock {
  kind: 'text';
  text: string;
}

export type Block = ChartSpec | TableSpec | TextBlock;

export interface ReportSection {
  heading: string;
  intro?: string;
  blocks: Block[];
}

export interface HtmlReport {
  /** The page's <title> and top heading. */
  title: string;
  subtitle?: string;
  /** Key facts under the heading (seed, scenario file, ...). */
  meta?: [string, string][];
  sections: ReportSection[];
}

/**
 * The CDF of a bucketed distribution: one point per non-empty bucket at its upper bound,
 * starting from (first bound, 0) when the first bucket is non-empty. Buckets are sorted by
 * bound; a histogram with no samples gives no points.
 */
export function cdfFromHistogram(buckets: readonly { ns: number; count: number }[]): [number, number][] {
  const sorted = buckets.filter((b) => Number.isFinite(b.ns) && Number.isFinite(b.count) && b.count > 0).sort((a, b) => a.ns - b.ns);
  const total = sorted.reduce((s, b) => s + b.count, 0);
  if (total === 0) return [];
  const out: [number, number][] = [];
  let seen = 0;
  for (const b of sorted) {
    seen += b.count;
    out.push([b.ns, seen / total]);
  }
  return out;
}

/** The empirical CDF of samples: (value, fraction <= value) at each distinct value. */
export function cdfFromSamples(samples: readonly number[]): [number, number][] {
  const v = samples.filter(Number.isFinite).sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i < v.length; i++) if (i === v.length - 1 || v[i + 1] !== v[i]) out.push([v[i]!, (i + 1) / v.length]);
  return out;
}
