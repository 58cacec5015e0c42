// What the HTML report tests (compare, run, sweep) share around report_browser.ts: one
// chromium per describe block, a page opened and closed around each check, and the check
// that every chart drew with ink and the page fetched nothing.

import { afterAll, beforeAll, expect } from 'vitest';
import type { Browser } from 'playwright-core';
import { findChromium, openReport, startReportBrowser, type PageResult, type ReportBrowser } from './report_browser.ts';

/** The system chromium; when there is none, says so once, naming the test file whose checks are skipped. */
export function chromiumFor(testFile: string): string | undefined {
  const found = findChromium();
  if (!found) console.warn(`${testFile}: no chromium found (/usr/lib/chromium/chromium, /usr/bin/chromium, $PVSIM_CHROMIUM): the headless-browser checks are skipped. Install it with: apt-get install chromium`);
  return found;
}

/** Inside a describe block: chromium started before its tests and stopped after; returns the browser. */
export function useReportBrowser(executablePath: string | undefined): () => Browser {
  let rb: ReportBrowser | undefined;
  beforeAll(async () => {
    rb = await startReportBrowser(executablePath!);
  }, 30_000);
  afterAll(async () => {
    await rb?.stop();
  }, 20_000);
  return () => rb!.browser;
}

/** Opens the report (openReport), runs the checks, and closes the page whatever they do. */
export async function withReport(browser: Browser, html: string, name: string, check: (r: PageResult) => Promise<void> | void): Promise<void> {
  const r = await openReport(browser, html, name);
  try {
    await check(r);
  } finally {
    await r.page.context().close();
  }
}

/**
 * No error and no request but the file itself; every chart drawn (`charts` of them when given),
 * each a real picture: large enough, inked (axes, grid, labels and data: not blank), in
 * several colours, with chart elements.
 */
export function expectAllDrawn(r: PageResult, charts?: number): void {
  expect(r.pageErrors).toEqual([]);
  expect(r.consoleErrors).toEqual([]);
  expect(r.requests).toEqual([r.fileUrl]);
  expect(r.routed).toEqual([r.fileUrl]);
  expect(r.failed).toEqual([]);
  expect(r.charts).toBe('ready');
  if (charts !== undefined) expect(r.drawn).toBe(charts);
  expect(r.figures).toHaveLength(r.drawn);
  for (const f of r.figures) {
    expect(f.state, f.title).toBe('drawn');
    expect(f.width * f.height, f.title).toBeGreaterThan(100 * 100);
    expect(f.inked, f.title).toBeGreaterThan(0.02);
    expect(f.colours, f.title).toBeGreaterThanOrEqual(3);
    expect(f.elements, f.title).toBeGreaterThan(0);
  }
}
