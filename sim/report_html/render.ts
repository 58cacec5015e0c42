// One self-contained HTML file from an HtmlReport: Chart.js and the page's script inlined, the
// data as JSON in a non-executed <script type="application/json">, tables and text rendered
// here with every string escaped. A Content-Security-Policy meta allows exactly those two
// scripts (by hash) and no fetch of any kind, so the page opens offline and stays inert even
// if a guest managed to put markup into a string. Deterministic: the same report gives the
// same bytes (no dates, no random ids).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CLIENT_JS } from './client.ts';
import type { Block, ChartSpec, HtmlReport, TableCell, TableSpec } from './spec.ts';

/** The charting library's browser bundle, read once from node_modules. */
export interface ChartLibrary {
  name: string;
  version: string;
  code: string;
}

let cachedLibrary: ChartLibrary | undefined;

/**
 * Chart.js's UMD build (the `Chart` global) from the installed package. Its exports map
 * names no UMD file, so the path is found next to the CommonJS entry in the same dist/.
 */
export function loadChartLibrary(): ChartLibrary {
  if (cachedLibrary) return cachedLibrary;
  let path: string;
  try {
    path = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
  } catch (e) {
    throw new Error(`HTML report: the chart.js package is not installed (run npm install): ${(e as Error).message}`);
  }
  let code: string;
  try {
    code = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`HTML report: cannot read Chart.js's browser bundle ${path}: ${(e as Error).message}`);
  }
  const version = /Chart\.js v(\d+\.\d+\.\d+)/.exec(code.slice(0, 400))?.[1] ?? 'unknown';
  cachedLibrary = { name: 'Chart.js', version, code };
  return cachedLibrary;
}

/** Text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON safe inside a <script> element: `<`, `>` and `&` (and the JavaScript line separators)
 * become \u escapes, so no `</script>` or `<!--` can appear in it, whatever the strings hold;
 * JSON.parse gives back the same strings. Non-finite numbers become null (as JSON.stringify does).
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Code safe to inline in a <script> element. `</script` can occur in JavaScript only inside a
 * string, template, regular expression or comment, where `<\/script` means the same; `<!--`
 * and `<script` would switch the HTML parser's script states and have no safe rewrite, so
 * such code is refused.
 */
export function scriptSafe(code: string): string {
  const out = code.replace(/<\/(script)/gi, '<\\/$1');
  if (/<!--|<script/i.test(out)) throw new Error('HTML report: script contains <!-- or <script and cannot be inlined safely');
  return out;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

const STYLE = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; background: #fff; margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; }
h1 { font-size: 1.7em; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.3em; margin: 1.8em 0 0.4em; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 0 0 6px; }
.subtitle { color: #555; margin: 0 0 0.8em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0.6em 0; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
figure.chart { margin: 18px 0; padding: 12px; border: 1px solid #ddd; border-radius: 6px; }
figure.chart .plot { position: relative; width: 100%; }
figure.chart figcaption { color: #444; font-size: 0.92em; margin-top: 6px; }
figure.chart[data-state="error"] .plot { color: #a00; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nw { white-space: nowrap; }
tr.good td { background: #eef8ee; } tr.bad td { background: #fbeaea; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
details { margin: 10px 0; } summary { cursor: pointer; font-weight: 600; }
.table-wrap { overflow-x: auto; }
footer { margin-top: 3em; color: #666; font-size: 0.85em; }
`;

function cellText(c: TableCell): string {
  if (c === null) return '–';
  if (typeof c === 'number') return Number.isFinite(c) ? String(c) : '–';
  return c;
}

function renderTable(t: TableSpec): string {
  const head = `<tr>${t.columns.map((c) => `<th scope="col">${escapeHtml(c.label)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map((row, i) => {
      const status = t.rowStatus?.[i];
      const cls = status === 'good' || status === 'bad' ? ` class="${status}"` : '';
      const cells = t.columns.map((col, j) => {
        const c = row[j] ?? null;
        const text = cellText(c);
        // Short text stays on one line (a mode, a reason); long text (errors, result lines) wraps.
        const cls = col.numeric || typeof c === 'number' ? ' class="num"' : text.length <= 24 ? ' class="nw"' : '';
        return `<td${cls}>${escapeHtml(text)}</td>`;
      });
      return `<tr${cls}>${cells.join('')}</tr>`;
    })
    .join('\n');
  const caption = t.title !== undefined && !t.collapsed ? `<caption>${escapeHtml(t.title)}</caption>` : '';
  const table = `<div class="table-wrap"><table>${caption}<thead>${head}</thead><tbody>\n${body}\n</tbody></table></div>`;
  return t.collapsed ? `<details><summary>${escapeHtml(t.title ?? 'Details')} (${t.rows.length} rows)</summary>${table}</details>` : table;
}

/** Validates a chart spec's shape enough that the page cannot fail on it, and copies it. */
function checkChart(c: ChartSpec): ChartSpec {
  const fin = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  switch (c.kind) {
    case 'bar':
      for (const s of c.series) {
        if (s.values.length !== c.categories.length) {
          throw new Error(`HTML report: bar chart "${c.title}": series "${s.name}" has ${s.values.length} values for ${c.categories.length} categories`);
        }
      }
      return { ...c, series: c.series.map((s) => ({ ...s, values: s.values.map(fin) })) };
    case 'line':
      return { ...c, series: c.series.map((s) => ({ ...s, points: s.points.filter((p) => fin(p[0]) !== null).map((p): [number, number | null] => [p[0], fin(p[1])]) })) };
    case 'cdf':
      return { ...c, series: c.series.map((s) => ({ ...s, points: s.points.filter((p) => fin(p[0]) !== null && fin(p[1]) !== null) })) };
    default:
      throw new Error(`HTML report: unknown chart kind ${(c as { kind: unknown }).kind}`);
  }
}

/**
 * The report as one HTML document (UTF-8). Throws with a clear message when Chart.js is not
 * installed or a chart's data does not fit its categories.
 */
export function renderHtmlReport(report: HtmlReport): string {
  const lib = loadChartLibrary();
  const charts: ChartSpec[] = [];
  const renderBlock = (b: Block): string => {
    switch (b.kind) {
      case 'text':
        return `<p>${escapeHtml(b.text)}</p>`;
      case 'table':
        return renderTable(b);
      default: {
        const i = charts.push(checkChart(b)) - 1;
        const caption = b.caption !== undefined ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : '';
        return `<figure class="chart" data-chart="${i}"><h3>${escapeHtml(b.title)}</h3><div class="plot"></div>${caption}</figure>`;
      }
    }
  };
  const sections = report.sections
    .map((s) => [`<section>`, `<h2>${escapeHtml(s.heading)}</h2>`, s.intro !== undefined ? `<p>${escapeHtml(s.intro)}</p>` : '', ...s.blocks.map(renderBlock), `</section>`].filter((x) => x !== '').join('\n'))
    .join('\n');
  const meta = report.meta?.length
    ? `<dl class="meta">${report.meta.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`
    : '';
  const libCode = scriptSafe(lib.code);
  const clientCode = scriptSafe(CLIENT_JS);
  const data = jsonForScript({ charts });
  // No default source at all: the two inline scripts by hash, the one inline style by hash,
  // nothing fetched (connect, img, font, frame, form, base all fall back to 'none').
  const csp = [`default-src 'none'`, `script-src ${sha256(libCode)} ${sha256(clientCode)}`, `style-src ${sha256(STYLE)}`, `base-uri 'none'`, `form-action 'none'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(report.title)}</h1>
${report.subtitle !== undefined ? `<p class="subtitle">${escapeHtml(report.subtitle)}</p>` : ''}
${meta}
</header>
<main>
${sections}
</main>
<footer>Written by pvsim. Charts drawn with ${escapeHtml(lib.name)} ${escapeHtml(lib.version)} (MIT License), bundled into this file; it needs no network.</footer>
<script type="application/json" id="pvsim-report-data">${data}</script>
<script>${libCode}</script>
<script>${clientCode}</script>
</body>
</html>
`;
}
