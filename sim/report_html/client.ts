// The page's own script: reads the report's chart specs from the JSON data element and draws
// each with Chart.js (inlined before it). Kept as a string of plain browser JavaScript (the
// project's TypeScript has no DOM types, and the page must not depend on a transpiler's helpers);
// the headless-browser test (tests/compare-html.test.ts) runs it. Strings from the data reach
// the page only through textContent and canvas text, never as markup.

export const CLIENT_JS = String.raw`(function () {
  'use strict';
  var root = document.documentElement;
  // Tableau 10, then darker and lighter companions: 20 distinguishable series before a repeat.
  var PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#7f7f7f',
    '#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#a6761d', '#17becf', '#bcbd22', '#393b79', '#8c564b'];
  var DASH = { solid: [], dashed: [7, 4], dotted: [2, 3], dashdot: [8, 3, 2, 3] };
  function fail(msg) {
    console.error('pvsim report: ' + msg);
    root.setAttribute('data-charts', 'error');
  }
  var data;
  try {
    data = JSON.parse(document.getElementById('pvsim-report-data').textContent);
  } catch (e) {
    fail('the embedded data is unreadable: ' + e);
    return;
  }
  if (typeof Chart !== 'function') {
    fail('the charting library did not load');
    return;
  }
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
  Chart.defaults.color = '#222';

  function colour(s, i) {
    return typeof s.colour === 'string' && /^#[0-9a-fA-F]{6}$/.test(s.colour) ? s.colour : PALETTE[i % PALETTE.length];
  }
  // Axis and legend labels are cut to a readable length (a guest may name a workload anything);
  // the tables beside the chart give every name in full.
  function short(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
  function num(v) {
    return typeof v === 'number' && isFinite(v) ? v : null;
  }
  function fmt(v, unit) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    var a = Math.abs(v);
    var t = a !== 0 && (a >= 1e9 || a < 1e-3) ? v.toExponential(2) : Number(v.toPrecision(4)).toLocaleString('en-US', { maximumFractionDigits: 4 });
    return t + (unit || '');
  }
  // On a logarithmic axis only 1, 2 and 5 times a power of ten get a label (the rest crowd).
  function tickFormatter(unit, log) {
    return function (v) {
      if (log) {
        var m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
        if (!(Math.abs(m - 1) < 1e-6 || Math.abs(m - 2) < 1e-6 || Math.abs(m - 5) < 1e-6)) return '';
      }
      return fmt(v, unit);
    };
  }
  function axis(label, type, extra) {
    var a = { type: type, title: { display: true, text: String(label), font: { weight: 'bold' } } };
    for (var k in extra) a[k] = extra[k];
    return a;
  }
  function logSafe(v, log) {
    v = num(v);
    return log && v !== null && v <= 0 ? null : v;
  }

  function barConfig(spec) {
    var horizontal = !!spec.horizontal;
    var val = horizontal ? 'x' : 'y';
    var cat = horizontal ? 'y' : 'x';
    var unit = spec.unit || '';
    var scales = {};
    scales[cat] = axis(spec.xLabel, 'category', { stacked: !!spec.stacked, ticks: { autoSkip: false, callback: function (v) { return short(this.getLabelForValue(v), 60); } } });
    scales[val] = axis(spec.yLabel, spec.logValues ? 'logarithmic' : 'linear', {
      stacked: !!spec.stacked,
      beginAtZero: !spec.logValues,
      ticks: { callback: tickFormatter(unit, !!spec.logValues) },
    });
    if (typeof spec.valueMin === 'number') scales[val].min = spec.valueMin;
    if (typeof spec.valueMax === 'number') scales[val].max = spec.valueMax;
    return {
      type: 'bar',
      data: {
        labels: spec.categories.map(String),
        datasets: spec.series.map(function (s, i) {
          var c = colour(s, i);
          return {
            label: short(s.name, 80),
            data: s.values.map(function (v) { return logSafe(v, spec.logValues); }),
            backgroundColor: c,
            borderColor: c,
            stack: spec.stacked ? String(s.stack || 'all') : String(i),
          };
        }),
      },
      options: {
        indexAxis: cat,
        scales: scales,
        plugins: {
          legend: { display: true, position: 'top' },
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + fmt(ctx.parsed[val], unit); } } },
        },
      },
    };
  }

  function lineConfig(spec, cdf) {
    var unit = spec.unit || '';
    var many = spec.series.some(function (s) { return s.points.length > 50; });
    var markers = spec.markers === undefined ? !many : !!spec.markers;
    var big = spec.series.some(function (s) { return s.points.length > 2000; });
    var datasets = spec.series.map(function (s, i) {
      var c = colour(s, i);
      var pts = [];
      for (var j = 0; j < s.points.length; j++) {
        var p = s.points[j];
        var x = logSafe(p[0], spec.xLog);
        if (x === null) continue;
        pts.push({ x: x, y: logSafe(p[1], !cdf && spec.yLog) });
      }
      pts.sort(function (a, b) { return a.x - b.x; });
      // A CDF starts at 0: a vertical rise at the first sample, not a line from nowhere.
      if (cdf && pts.length > 0) pts.unshift({ x: pts[0].x, y: 0 });
      return {
        label: short(s.name, 80),
        data: pts,
        borderColor: c,
        backgroundColor: c,
        borderWidth: 2,
        borderDash: DASH[s.dash] || [],
        pointRadius: markers ? 3 : 0,
        stepped: cdf || spec.stepped ? 'after' : false,
        spanGaps: false,
        fill: false,
      };
    });
    var yExtra = cdf
      ? { min: 0, max: 1, ticks: { callback: function (v) { return Math.round(v * 100) + '%'; } } }
      : { ticks: { callback: tickFormatter(unit, !!spec.yLog) } };
    if (!cdf && typeof spec.yMin === 'number') yExtra.min = spec.yMin;
    if (!cdf && typeof spec.yMax === 'number') yExtra.max = spec.yMax;
    return {
      type: 'line',
      data: { datasets: datasets },
      options: {
        parsing: false,
        normalized: true,
        scales: {
          x: axis(spec.xLabel, spec.xLog ? 'logarithmic' : 'linear', { ticks: { callback: tickFormatter(cdf ? unit : '', !!spec.xLog) } }),
          y: axis(spec.yLabel, !cdf && spec.yLog ? 'logarithmic' : 'linear', yExtra),
        },
        interaction: { mode: 'nearest', intersect: false },
        plugins: {
          legend: { display: true, position: 'top' },
          decimation: { enabled: big, algorithm: 'lttb', samples: 800 },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var y = cdf ? Math.round(ctx.parsed.y * 1000) / 10 + '% ≤ ' + fmt(ctx.parsed.x, unit) : fmt(ctx.parsed.y, unit) + ' at ' + fmt(ctx.parsed.x, '');
                return ctx.dataset.label + ': ' + y;
              },
            },
          },
        },
      },
    };
  }

  var figures = document.querySelectorAll('figure[data-chart]');
  var drawn = 0;
  for (var f = 0; f < figures.length; f++) {
    var fig = figures[f];
    var spec = data.charts[Number(fig.getAttribute('data-chart'))];
    var plot = fig.querySelector('.plot');
    try {
      if (!spec || !plot) throw new Error('no spec for figure ' + f);
      var height = typeof spec.height === 'number' && spec.height > 0 ? spec.height : 320;
      if (spec.kind === 'bar' && spec.horizontal && spec.height === undefined) {
        var rows = spec.categories.length * (spec.stacked ? 1 : Math.max(1, spec.series.length) * 0.6);
        height = Math.max(240, Math.min(4000, 110 + 22 * rows));
      }
      plot.style.height = height + 'px';
      var canvas = document.createElement('canvas');
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', short(spec.title, 200));
      plot.appendChild(canvas);
      var config = spec.kind === 'bar' ? barConfig(spec) : spec.kind === 'line' ? lineConfig(spec, false) : spec.kind === 'cdf' ? lineConfig(spec, true) : null;
      if (!config) throw new Error('unknown chart kind ' + spec.kind);
      new Chart(canvas, config);
      fig.setAttribute('data-state', 'drawn');
      drawn++;
    } catch (e) {
      fig.setAttribute('data-state', 'error');
      if (plot) plot.textContent = 'This chart could not be drawn: ' + e;
      console.error('pvsim report: chart ' + f + ': ' + e);
    }
  }
  root.setAttribute('data-charts-drawn', String(drawn));
  if (root.getAttribute('data-charts') !== 'error') root.setAttribute('data-charts', drawn === figures.length ? 'ready' : 'error');
})();
`;
