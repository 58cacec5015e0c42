// Opens a self-contained HTML report (sim/report_html/) in Debian's chromium, headless, driven
// by playwright-core (no browser download: the system executable), and says what the page did:
// each chart's state and ink, console errors, every request the page tried. Shared by the
// tests of `pvsim compare --html` and of the other reports built with the kit.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';

/** Where tests keep what a person may want to look at after a run (gitignored). */
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');

/** The system chromium: $PVSIM_CHROMIUM, else Debian's paths; undefined when there is none. */
export function findChromium(): string | undefined {
  const candidates = [process.env.PVSIM_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => typeof p === 'string' && p !== '' && existsSync(p));
}

export interface ReportBrowser {
  browser: Browser;
  /** Closes the browser; kills its process (group) if closing does not finish in time. */
  stop(): Promise<void>;
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts chromium with a private profile directory under a private TMPDIR. */
export async function startReportBrowser(executablePath: string): Promise<ReportBrowser> {
  const tmp = mkdtempSync(join(tmpdir(), 'pvsim-report-browser-'));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp; // playwright puts the profile in os.tmpdir()
  let server: BrowserServer;
  try {
    server = await chromium.launchServer({
      executablePath,
      headless: true,
      // Root cannot use chromium's sandbox; the page is our own file, with a CSP.
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      env: { ...process.env, TMPDIR: tmp },
      timeout: 20_000,
    });
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
  const browser = await bounded(chromium.connect(server.wsEndpoint(), { timeout: 10_000 }), 15_000, 'connect to chromium');
  return {
    browser,
    async stop() {
      try {
        await bounded(browser.close(), 5_000, 'close chromium');
        await bounded(server.close(), 5_000, 'close chromium server');
      } catch {
        await server.kill(); // our browser's process group, by its pid
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}

export interface FigureState {
  title: string;
  state: string | null;
  width: number;
  height: number;
  /** Share of sampled pixels with any ink (alpha > 0). */
  inked: number;
  /** Distinct colours among the sampled pixels (4 bits per channel), capped at 64. */
  colours: number;
  /** Chart.js elements drawn (bars, points, line segments) over the visible datasets. */
  elements: number;
}

export interface PageResult {
  page: Page;
  charts: string | null;
  drawn: number;
  figures: FigureState[];
  consoleErrors: string[];
  pageErrors: string[];
  /** Every URL the page asked for, the file itself included. */
  requests: string[];
  /** The requests that got past the browser's own checks (CSP) to the network layer. */
  routed: string[];
  /** Requests that failed, with the browser's reason (net::ERR_BLOCKED_BY_CSP, ...). */
  failed: string[];
  /** Milliseconds: load to charts drawn, and the screenshot. */
  timing: { drawMs: number; screenshotMs: number };
  fileUrl: string;
}

const FIGURES = `Array.from(document.querySelectorAll('figure[data-chart]')).map(function (f) {
  var c = f.querySelector('canvas');
  var title = f.querySelector('h3') ? f.querySelector('h3').textContent : '';
  if (!c) return { title: title, state: f.getAttribute('data-state'), width: 0, height: 0, inked: 0, colours: 0, elements: 0 };
  var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  var inked = 0, samples = 0, set = new Set();
  for (var i = 0; i < d.length; i += 4 * 5) {
    samples++;
    if (d[i + 3] > 0) { inked++; if (set.size < 64) set.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4)); }
  }
  var chart = window.Chart && window.Chart.getChart(c);
  var elements = chart ? chart.getSortedVisibleDatasetMetas().reduce(function (n, m) { return n + m.data.length; }, 0) : 0;
  return { title: title, state: f.getAttribute('data-state'), width: c.width, height: c.height, inked: inked / samples, colours: set.size, elements: elements };
})`;

/**
 * Writes the report to test-artifacts/NAME.html, opens it from the file (every other request
 * is recorded and aborted), waits for the page's script to finish drawing, and takes a full-page
 * screenshot to test-artifacts/NAME.png. The page stays open for further checks.
 */
export async function openReport(browser: Browser, html: string, name: string): Promise<PageResult> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.html`);
  writeFileSync(file, html);
  const fileUrl = pathToFileURL(file).href;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const requests: string[] = [];
  const routed: string[] = [];
  const failed: string[] = [];
  await context.route('**/*', (route) => {
    routed.push(route.request().url());
    return route.request().url() === fileUrl ? route.continue() : route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('websocket', (w) => requests.push(w.url()));
  const t0 = performance.now();
  await page.goto(fileUrl, { waitUntil: 'load' });
  await page.waitForSelector('html[data-charts]', { state: 'attached' });
  const charts = await page.evaluate<string | null>("document.documentElement.getAttribute('data-charts')");
  const drawn = Number(await page.evaluate<string | null>("document.documentElement.getAttribute('data-charts-drawn')"));
  const figures = await page.evaluate<FigureState[]>(FIGURES);
  const t1 = performance.now();
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const timing = { drawMs: Math.round(t1 - t0), screenshotMs: Math.round(performance.now() - t1) };
  return { page, charts, drawn, figures, consoleErrors, pageErrors, requests, routed, failed, timing, fileUrl };
}
