// `pvsim compare --html`: the page a user opens. Renders a realistic report (every mode, I/O
// path, a varied key, a failed run, hostile strings) and opens it in Debian's headless chromium:
// every chart drew something, nothing was fetched, no console error, no guest string became
// markup, the CSP blocks what a stray script would try. Screenshots stay in test-artifacts/
// (compare-report.png, report-kit.png, beside the HTML files they show).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareChartCount, compareHtmlReport, renderCompareHtml } from '../sim/compare/html.ts';
import { cdfFromHistogram, cdfFromSamples, jsonForScript, renderHtmlReport, scriptSafe, type HtmlReport } from '../sim/report_html/index.ts';
import type { CompareReport } from '../sim/compare/types.ts';
import { fixtureCompareReport, HOSTILE_ERROR, HOSTILE_INSN, HOSTILE_REASON, HOSTILE_RESULT, HOSTILE_WORKLOAD } from './fixtures/compare-report.ts';
import { chromiumFor, expectAllDrawn, useReportBrowser, withReport } from './helpers/report_suite.ts';

const report = fixtureCompareReport();
const html = renderCompareHtml(report);

/** The markup with the contents of every <script> element removed. */
const markupOnly = (h: string) => h.replace(/(<script\b[^>]*>)[\s\S]*?(<\/script>)/gi, '$1$2');
const dataOf = (h: string) => JSON.parse(/<script type="application\/json" id="pvsim-report-data">([\s\S]*?)<\/script>/.exec(h)![1]!) as { charts: { title: string; categories?: string[]; series: { name: string }[] }[] };

describe('the compare report as HTML', () => {
  it('is the same bytes for the same report', () => {
    expect(renderCompareHtml(fixtureCompareReport())).toBe(html);
  });

  it('keeps every hostile string inside the data or escaped text: exactly three script elements', () => {
    expect(html.match(/<script\b/gi)).toHaveLength(3);
    expect(html.match(/<\/script/gi)).toHaveLength(3);
    expect(html.match(/<!--/g)).toBeNull();
    const markup = markupOnly(html);
    // Only the page's own elements: no tag a guest string could have opened, no event handler.
    const tags = new Set([...markup.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
    expect([...tags].sort()).toEqual(['body', 'caption', 'dd', 'details', 'div', 'dl', 'dt', 'figcaption', 'figure', 'footer', 'h1', 'h2', 'h3', 'head', 'header', 'html', 'main', 'meta', 'p', 'script', 'section', 'style', 'summary', 'table', 'tbody', 'td', 'th', 'thead', 'title', 'tr']);
    expect(markup).not.toMatch(/<[^>]*\son\w+=/i);
    // ... and each string is still there, intact, for the page to show.
    const data = dataOf(html);
    expect(data.charts.some((c) => c.categories?.includes(HOSTILE_WORKLOAD))).toBe(true);
    expect(data.charts.some((c) => c.series.some((s) => s.name === HOSTILE_REASON))).toBe(true);
    expect(markup).toContain('evil&#60;/script&#62;&#60;script&#62;window.__pwned=1&#60;/script&#62;&#60;!--');
    expect(markup).toContain('&#60;svg onload=window.__pwned=4&#62;');
  });

  it('fetches nothing: a CSP with no default source, no unsafe-inline, no URL in the markup', () => {
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1]?.replace(/&#39;/g, "'");
    expect(csp).toBeDefined();
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; base-uri 'none'; form-action 'none'$/);
    const markup = markupOnly(html);
    expect(markup).not.toMatch(/<[^>]*\s(src|href|action|srcset|style)=/i);
    // The only URLs are the hostile strings' own, escaped as text.
    expect(markup.replace(/https?:\/\/evil\.example\/?/g, '')).not.toMatch(/https?:|\/\/[a-z]/i);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('draws the charts the issue asks for, with titles, axis labels and units', () => {
    const charts = compareHtmlReport(report).sections.flatMap((s) => s.blocks).filter((b) => b.kind !== 'table' && b.kind !== 'text');
    const titles = charts.map((c) => c.title);
    for (const t of ['Slowdown against native', 'Where virtual time went', 'Exits to the hypervisor per run', 'Exits by reason', 'Exits per I/O request', 'Request latency: blk-rand-qd32', 'Request latency: net-ping', 'Sensitivity: slowdown against hvmExitNs']) {
      expect(titles.some((x) => x.startsWith(t)), t).toBe(true);
    }
    for (const c of charts) {
      expect(c.xLabel.length, c.title).toBeGreaterThan(0);
      expect(c.yLabel, c.title).toMatch(/\(.+\)/); // a unit in parentheses
    }
    expect(compareChartCount(report)).toBe(charts.length);
  });

  it('lists the orderings with holds, does not hold or not checked (untinted: not a failure), and the failed run with its error', () => {
    const markup = markupOnly(html);
    expect(markup.match(/✓ holds/g)).toHaveLength(4);
    expect(markup.match(/✗ does not hold/g)).toHaveLength(1);
    expect(markup).toMatch(/<tr><td[^>]*>PV runs compute \(cpu\) close to native<\/td><td[^>]*>[^<]*<\/td><td[^>]*>– not checked<\/td>/);
    expect(markup).toContain('4 of the 5 published orderings this run could check hold (1 not checked');
    expect(markup).toContain('Failed runs and checksum disagreements');
    expect(markup).toContain('failed: guest said &#34;bye&#34;');
  });

  it('renders a report with no runs, or with non-finite figures, without failing', () => {
    const empty = { ...report, cells: [], orderings: [], varied: [], workloads: [] };
    expect(compareChartCount(empty)).toBe(0);
    expect(renderCompareHtml(empty)).toContain('0 of the 0 published orderings this run could check hold');
    const odd = fixtureCompareReport();
    for (const c of odd.cells.slice(0, 10)) {
      c.slowdown = Number.NaN;
      c.virtualNs = Number.POSITIVE_INFINITY;
    }
    const data = dataOf(renderCompareHtml(odd));
    expect(JSON.stringify(data)).not.toMatch(/NaN|Infinity/);
  });

  it('says clearly when a bar series does not fit its categories', () => {
    const bad: HtmlReport = { title: 't', sections: [{ heading: 'h', blocks: [{ kind: 'bar', title: 'b', xLabel: 'x', yLabel: 'y (n)', categories: ['a', 'b'], series: [{ name: 's', values: [1] }] }] }] };
    expect(() => renderHtmlReport(bad)).toThrow(/series "s" has 1 values for 2 categories/);
  });
});

describe('the report kit', () => {
  it('embeds any string as JSON that parses back to it and cannot end the script element', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom('</script>', '<!--', '</SCRIPT', '<script>', '\u2028', '&', ']]>'), (s, evil) => {
        const v = { s: s + evil + s, n: [1, Number.NaN] };
        const out = jsonForScript(v);
        expect(out).not.toMatch(/[<>&\u2028\u2029]/);
        expect(JSON.parse(out)).toEqual({ s: v.s, n: [1, null] });
      }),
      { numRuns: 100 },
    );
  });

  it('inlines code only when the HTML parser cannot be switched out of the script', () => {
    expect(scriptSafe('var s = "</script>";')).toBe('var s = "<\\/script>";');
    expect(() => scriptSafe('var s = "<!--";')).toThrow(/cannot be inlined/);
  });

  it('builds CDFs that rise to 1 from histograms and samples', () => {
    expect(cdfFromHistogram([{ ns: 20, count: 1 }, { ns: 10, count: 3 }, { ns: 30, count: 0 }])).toEqual([[10, 0.75], [20, 1]]);
    expect(cdfFromHistogram([{ ns: 10, count: 0 }])).toEqual([]);
    expect(cdfFromSamples([3, 1, 1, Number.NaN, 2])).toEqual([[1, 0.5], [2, 0.75], [3, 1]]);
  });
});

/** A generic report as `pvsim run --html` or `pvsim sweep --html` would make: the kit alone. */
function kitReport(): HtmlReport {
  const share = (phase: number): [number, number][] => Array.from({ length: 4000 }, (_, i) => [i * 0.05, 33 + 20 * Math.sin(i / 200 + phase)]);
  return {
    title: 'pvsim run: mixed-100 </script>',
    meta: [['scenario', 'examples/<mixed>.json']],
    sections: [
      {
        heading: 'Schedule',
        blocks: [
          { kind: 'line', title: 'CPU share over time per domain group', xLabel: 'virtual time (ms)', yLabel: 'CPU share (%)', series: [0, 2, 4].map((p, i) => ({ name: `weight ${128 << i}`, points: share(p) })), yMin: 0, unit: ' %' },
          { kind: 'cdf', title: 'Scheduling latency', xLabel: 'wake to run (µs)', yLabel: 'wakeups (%)', xLog: true, series: [{ name: 'I/O domains', points: cdfFromSamples(Array.from({ length: 500 }, (_, i) => 5 + ((i * 37) % 400))) }, { name: 'hogs', dash: 'dashed', points: cdfFromSamples(Array.from({ length: 200 }, (_, i) => 100 + ((i * 53) % 3000))) }] },
          { kind: 'bar', title: 'Utilisation per pCPU', xLabel: 'pCPU', yLabel: 'utilisation (%)', categories: ['0', '1', '2', '3'], series: [{ name: 'busy', values: [97, 95, 99, 40] }], valueMax: 100, unit: ' %' },
          { kind: 'line', title: 'Fairness against weight ratio', xLabel: 'weight ratio', yLabel: "Jain's index (1 = fair)", xLog: true, series: [{ name: 'credit', points: [[1, 0.99], [2, 0.97], [4, 0.93], [8, null], [16, 0.9]] }], markers: true },
          { kind: 'table', title: 'Domains', columns: [{ label: 'domain' }, { label: 'share', numeric: true }], rows: [['<img src=x>', 12.5]] },
        ],
      },
    ],
  };
}

/**
 * A real comparison, small: `pvsim compare` as a user runs it (worker processes), every mode,
 * two I/O paths, writing --json and --html; twice with the same seed.
 */
const REAL_ARGS = ['compare', 'syscall:n=200', 'pgfault:n=2,pages=16', 'blk:n=2', 'net:ping=2,udp=2', '--io', 'pv,virtio', '--jobs', '2', '--seed', '3'];
let realDir = '';
let real: { report: CompareReport; html: string; json: string; again: { html: string; json: string } } | undefined;
function runReal(tag: string): { html: string; json: string } {
  const r = spawnSync(process.execPath, [join(process.cwd(), 'bin/pvsim.js'), ...REAL_ARGS, '--json', join(realDir, `${tag}.json`), '--html', join(realDir, `${tag}.html`)], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, TMPDIR: realDir } });
  if (r.status !== 0) throw new Error(`pvsim compare exited ${r.status}: ${r.stderr}`);
  return { html: readFileSync(join(realDir, `${tag}.html`), 'utf8'), json: readFileSync(join(realDir, `${tag}.json`), 'utf8') };
}

describe('a real comparison as HTML', () => {
  beforeAll(() => {
    realDir = mkdtempSync(join(tmpdir(), 'pvsim-compare-html-'));
    const a = runReal('a');
    real = { ...a, report: JSON.parse(a.json) as CompareReport, again: runReal('b') };
  }, 180_000);
  afterAll(() => rmSync(realDir, { recursive: true, force: true }));

  it('the same seed gives the same JSON and the same HTML, byte for byte; the page is the JSON rendered', () => {
    expect(real!.again.json).toBe(real!.json);
    expect(real!.again.html).toBe(real!.html);
    expect(renderCompareHtml(real!.report)).toBe(real!.html);
  });

  it('carries measured latency distributions and shows unchecked orderings as not checked', () => {
    const io = real!.report.cells.filter((c) => c.ioStats);
    expect(io.length).toBe(8);
    for (const c of io) {
      expect(c.ok, `${c.workload} ${c.mode}`).toBe(true);
      expect(c.ioStats!.latencyHistogram.length, `${c.workload} ${c.mode}`).toBeGreaterThan(0);
    }
    const unchecked = real!.report.orderings.filter((o) => !o.checked);
    expect(unchecked.length).toBeGreaterThan(0);
    expect(markupOnly(real!.html).match(/– not checked/g)).toHaveLength(unchecked.length);
  });
});

const CHROMIUM = chromiumFor('compare-html.test.ts');

describe.skipIf(!CHROMIUM)('the HTML report in headless chromium', () => {
  const browser = useReportBrowser(CHROMIUM);

  it('renders every chart of the compare report, fetches nothing, runs no guest string', async () => {
    await withReport(browser(), html, 'compare-report', async (r) => {
      expectAllDrawn(r, compareChartCount(report));
      const dom = await r.page.evaluate<{ pwned: unknown; scripts: number; injected: number; text: string }>(
        "({ pwned: window.__pwned, scripts: document.scripts.length, injected: document.querySelectorAll('img, iframe, svg, a, b').length, text: document.body.textContent })",
      );
      expect(dom.pwned).toBeUndefined();
      expect(dom.scripts).toBe(3);
      expect(dom.injected).toBe(0);
      for (const s of [HOSTILE_WORKLOAD, HOSTILE_RESULT, HOSTILE_INSN, HOSTILE_ERROR.replace('\u2028', '\u2028')]) expect(dom.text).toContain(s);

      // What a script that got in would try: each is refused by the page's CSP, and nothing leaves.
      await r.page.evaluate(`(function () {
        window.__violations = [];
        document.addEventListener('securitypolicyviolation', function (e) { window.__violations.push(e.effectiveDirective); });
        fetch('http://127.0.0.1:9/probe').then(function () { window.__fetched = 'yes'; }, function () { window.__fetched = 'refused'; });
        var i = new Image(); i.src = 'http://127.0.0.1:9/probe.png'; document.body.appendChild(i);
        var s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.appendChild(s);
      })()`);
      await r.page.waitForFunction("window.__fetched !== undefined && window.__violations.length >= 3", undefined, { timeout: 5_000 });
      const probe = await r.page.evaluate<{ fetched: string; ran: unknown; violations: string[] }>('({ fetched: window.__fetched, ran: window.__ran, violations: window.__violations.slice().sort() })');
      expect(probe).toEqual({ fetched: 'refused', ran: undefined, violations: ['connect-src', 'img-src', 'script-src-elem'] });
      // The image shows up as attempted, refused by the CSP before the network layer.
      expect(r.routed).toEqual([r.fileUrl]);
      expect(r.failed).toEqual(['http://127.0.0.1:9/probe.png csp']);
      console.log(`compare report: ${html.length} bytes, ${r.figures.length} charts drawn in ${r.timing.drawMs} ms, screenshot ${r.timing.screenshotMs} ms`);
    });
  }, 60_000); // a 14,000-pixel page rasterised for the screenshot: seconds on a loaded machine

  it('renders every chart of a real comparison\'s page (pvsim compare --html)', async () => {
    await withReport(browser(), real!.html, 'compare-real', (r) => {
      expectAllDrawn(r, compareChartCount(real!.report));
      expect(r.figures.map((f) => f.title)).toEqual(expect.arrayContaining([expect.stringMatching(/^Slowdown against native/), expect.stringMatching(/^Request latency: blk/), expect.stringMatching(/^Request latency: net/)]));
    });
  }, 60_000);

  it('renders the kit’s generic charts (time series, CDF, bars) as `pvsim run --html` will use them', async () => {
    await withReport(browser(), renderHtmlReport(kitReport()), 'report-kit', (r) => expectAllDrawn(r, 4));
  }, 60_000);
});
