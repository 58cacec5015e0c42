// `pvsim run --html`: the scenario report as a self-contained page with charts, rendered in
// headless chromium (every chart drawn, nothing fetched; screenshot in test-artifacts/).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';
import { reportJson } from '../sim/scenario/report.ts';
import { renderRunHtml } from '../sim/scenario/html.ts';
import { writeTestGuests } from './helpers/test_guests.ts';
import { chromiumFor, expectAllDrawn, useReportBrowser, withReport } from './helpers/report_suite.ts';

const guests = writeTestGuests();
const spec = {
  name: 'html-<b>mix</b>',
  pcpus: 2,
  until: '100ms',
  scheduler: 'credit',
  domains: [
    { name: 'hog', image: guests.spin, memory: 4, count: 3 },
    { name: 'io', image: guests.io1ms, memory: 4, count: 2, weight: 512 },
  ],
};

const dataOf = (h: string) => JSON.parse(/<script type="application\/json" id="pvsim-report-data">([\s\S]*?)<\/script>/.exec(h)![1]!) as { charts: { kind: string; title: string }[] };

describe('pvsim run --html', () => {
  it('draws CPU share over time per group, utilisation, latency CDFs and fairness; same run, same bytes', async () => {
    const r = await runScenario(validateScenario(spec, 't.json'), { baseDir: '/' });
    const html = renderRunHtml(reportJson(r), 't.json');
    const again = renderRunHtml(reportJson(await runScenario(validateScenario(spec, 't.json'), { baseDir: '/' })), 't.json');
    expect(again).toBe(html);
    const charts = dataOf(html).charts;
    expect(charts.map((c) => [c.kind, c.title])).toEqual([
      ['line', 'CPU share per domain group'],
      ['line', 'Utilisation per pCPU'],
      ['cdf', 'Wake-to-run latency per domain group'],
      ['bar', "Jain's fairness index"],
    ]);
    expect(html).not.toContain('<b>mix</b>'); // the scenario's name is escaped
  });

  it('is written by the CLI (hypervisor and dom0 as processes) beside the usual table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-runhtml-'));
    const file = join(dir, 's.json');
    writeFileSync(file, JSON.stringify({ ...spec, until: '30ms' }));
    const out = join(dir, 'r.html');
    const r = spawnSync(process.execPath, ['bin/pvsim.js', 'run', file, '--html', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^trace-hash: /);
    expect(existsSync(out)).toBe(true);
    expect(dataOf(readFileSync(out, 'utf8')).charts.map((c) => c.title)).toContain('CPU share per domain group');
    const bad = spawnSync(process.execPath, ['bin/pvsim.js', 'run', file, '--html', join(dir, 'no/such/dir/r.html')], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--html: directory .* does not exist/);
  });
});

const CHROMIUM = chromiumFor('run-html.test.ts');

describe.skipIf(!CHROMIUM)('the run report in headless chromium', () => {
  const browser = useReportBrowser(CHROMIUM);

  it('renders every chart with ink, no error and no request but the file', async () => {
    const r = await runScenario(validateScenario(spec, 't.json'), { baseDir: '/' });
    await withReport(browser(), renderRunHtml(reportJson(r), 't.json'), 'run-report', (page) => expectAllDrawn(page, 4));
  }, 60_000);
});
