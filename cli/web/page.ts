// The dashboard's page: one HTML document with Chart.js (the bundled copy the HTML reports use)
// and the page's script inlined, allowed by hash in a Content-Security-Policy that permits no
// other script and no connection but the dashboard's own WebSocket. Every string from the
// machine (a domain's name comes from its config) reaches the page as text, never markup.

import { createHash } from 'node:crypto';
import { loadChartLibrary, scriptSafe } from '../../sim/report_html/index.ts';

const CLIENT_JS = String.raw`(function () {
  'use strict';
  var HISTORY = 120;
  var COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
  var $ = function (id) { return document.getElementById(id); };
  var state = { samples: 0, last: null, prev: null, results: [], selected: null, connected: false };
  window.pvsimDashboard = state;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function row(cells) {
    var tr = el('tr');
    cells.forEach(function (c) {
      var td = el('td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? '' : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function colour(domid) { return COLOURS[domid % COLOURS.length]; }

  // ---- charts ----
  var charts = {};
  function makeChart(id, yTitle) {
    var c = new Chart($(id), {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
        elements: { point: { radius: 0 }, line: { borderWidth: 2 } },
        scales: { x: { type: 'linear', title: { display: true, text: 'virtual time (s)' } }, y: { beginAtZero: true, title: { display: true, text: yTitle } } },
        plugins: { legend: { position: 'bottom' } },
      },
    });
    charts[id] = c;
    return c;
  }
  function push(chart, key, label, domid, x, y) {
    var ds = chart.data.datasets.find(function (d) { return d.key === key; });
    if (!ds) {
      ds = { key: key, label: label, data: [], borderColor: colour(domid), backgroundColor: colour(domid) };
      chart.data.datasets.push(ds);
    }
    ds.label = label;
    ds.data.push({ x: x, y: y });
    if (ds.data.length > HISTORY) ds.data.shift();
  }
  state.charts = charts;

  // ---- rendering a sample ----
  function perDomain(list) {
    var m = {};
    (list || []).forEach(function (d) { m[d.domid] = d; });
    return m;
  }
  function render(s) {
    var prev = state.last;
    state.prev = prev;
    state.last = s;
    state.samples++;
    var t = s.nowNs / 1e9;
    var dt = prev ? (s.nowNs - prev.nowNs) / 1e9 : 0;
    $('clock').textContent = 'virtual time ' + t.toFixed(3) + ' s · ' + s.nrCpus + ' pCPUs · free ' + Math.floor(s.freeKb / 1024) + ' of ' + Math.floor(s.totalKb / 1024) + ' MiB';
    var before = perDomain(prev ? prev.domains : []);
    var devs = perDomain(s.devices);
    var devsBefore = perDomain(prev ? prev.devices : []);
    var rows = s.domains.map(function (d) {
      var p = before[d.domid];
      var cpu = p && dt > 0 ? (100 * (d.cpuTimeNs - p.cpuTimeNs)) / 1e9 / dt : 0;
      var memMiB = (d.totPages * 4) / 1024;
      var dev = devs[d.domid] || {};
      var db = devsBefore[d.domid] || {};
      var label = d.name + ' (' + d.domid + ')';
      if (dt > 0) {
        push(charts['chart-cpu'], 'd' + d.domid, label, d.domid, t, cpu);
        push(charts['chart-blk'], 'd' + d.domid, label, d.domid, t, ((dev.vbdReads || 0) + (dev.vbdWrites || 0) - (db.vbdReads || 0) - (db.vbdWrites || 0)) / dt);
        push(charts['chart-net'], 'd' + d.domid, label, d.domid, t, ((dev.netTxBytes || 0) + (dev.netRxBytes || 0) - (db.netTxBytes || 0) - (db.netRxBytes || 0)) / 1024 / dt);
      }
      push(charts['chart-mem'], 'd' + d.domid, label, d.domid, t, memMiB);
      var actions = el('span', null, 'actions');
      if (d.domid !== 0) {
        ['pause', 'unpause', 'shutdown', 'destroy'].forEach(function (op) {
          var b = el('button', op);
          b.dataset.op = op;
          b.dataset.domid = String(d.domid);
          b.addEventListener('click', function () { send(op, d.domid); });
          actions.appendChild(b);
        });
      }
      var tr = row([d.domid, d.name, d.state, (d.cpuTimeNs / 1e9).toFixed(3), cpu.toFixed(1), Math.floor(memMiB * 1024), d.onlineVcpus,
        dev.nets || 0, Math.floor((dev.netTxBytes || 0) / 1024), Math.floor((dev.netRxBytes || 0) / 1024), dev.vbds || 0, dev.vbdReads || 0, dev.vbdWrites || 0, actions]);
      tr.dataset.domid = String(d.domid);
      tr.dataset.state = d.state;
      return tr;
    });
    fill($('domains').tBodies[0], rows);
    // Each chart says how far it has grown and its latest values (for people and for tests
    // alike, which read the DOM and need no script of their own in the page).
    Object.keys(charts).forEach(function (k) {
      var c = charts[k];
      c.update('none');
      var last = {};
      var points = 0;
      c.data.datasets.forEach(function (d) {
        points = Math.max(points, d.data.length);
        if (d.data.length) last[d.label] = Math.round(d.data[d.data.length - 1].y * 10) / 10;
      });
      c.canvas.dataset.points = String(points);
      c.canvas.dataset.last = JSON.stringify(last);
    });

    fill($('vcpus').tBodies[0], s.vcpus.map(function (v) {
      var states = ['running', 'runnable', 'blocked', 'offline'];
      return row([v.domain, v.domid, v.vcpu, v.online ? v.pcpu : '-', states[v.state] || v.state, (v.cpuTimeNs / 1e9).toFixed(3)]);
    }));

    fill($('rings').tBodies[0], s.rings.map(function (r) {
      var unconsumed = (r.reqProd - r.reqCons) >>> 0;
      var unpublished = (r.rspProdPvt - r.rspProd) >>> 0;
      var meter = el('meter');
      meter.min = 0; meter.max = r.size || 1; meter.value = Math.min(unconsumed, r.size || 1);
      var tr = row([r.domid, r.device, r.ring || '-', r.size, r.reqProd, r.reqCons, r.device === 'console' ? '-' : r.rspProdPvt, r.device === 'console' ? '-' : r.rspProd,
        r.device === 'console' ? '-' : r.reqEvent, r.device === 'console' ? '-' : r.rspEvent, r.port, meter]);
      tr.title = unconsumed + ' unconsumed, ' + unpublished + ' unpublished';
      return tr;
    }));

    var sel = $('dom-select');
    var ids = s.tables.map(function (x) { return String(x.domid); });
    if (sel.options.length !== ids.length || ids.some(function (id, i) { return sel.options[i].value !== id; })) {
      var keep = state.selected;
      while (sel.firstChild) sel.removeChild(sel.firstChild);
      s.tables.forEach(function (x) {
        var d = s.domains.find(function (y) { return y.domid === x.domid; });
        var o = el('option', (d ? d.name : 'domain') + ' (' + x.domid + ')');
        o.value = String(x.domid);
        sel.appendChild(o);
      });
      if (keep !== null && ids.indexOf(keep) >= 0) sel.value = keep;
      else if (ids.length) sel.value = ids[ids.length - 1];
      state.selected = sel.value;
    }
    renderTables();
  }
  function renderTables() {
    var s = state.last;
    if (!s) return;
    var x = s.tables.find(function (t) { return String(t.domid) === state.selected; });
    if (!x) { fill($('evtchns').tBodies[0], []); fill($('grants').tBodies[0], []); return; }
    $('tables-note').textContent = 'event channel ABI ' + x.evtchnAbi + ' · ' + x.evtchnSends + ' sends · grant table ' + x.grantFrames + ' frame(s) · ' + x.maptrackUsed + ' foreign grants mapped' + (x.truncated ? ' · ' + x.truncated + ' entries not shown' : '');
    fill($('evtchns').tBodies[0], x.evtchns.map(function (e) {
      var remote = e.state === 'interdomain' ? 'dom ' + e.remoteDomid + ' port ' + e.remotePort : e.state === 'unbound' ? 'dom ' + e.remoteDomid : e.state === 'virq' ? 'VIRQ ' + e.virq : '';
      return row([e.port, e.state, remote, e.vcpu, e.pending ? 'yes' : '', e.masked ? 'yes' : '']);
    }));
    fill($('grants').tBodies[0], x.grants.map(function (g) {
      return row([g.ref, '0x' + g.flags.toString(16), g.domid, '0x' + g.frame.toString(16), g.pin ? '0x' + g.pin.toString(16) : '']);
    }));
  }

  // ---- the connection ----
  var ws = null;
  var nextId = 1;
  function send(op, domid) {
    if (!ws || ws.readyState !== 1) return;
    var id = nextId++;
    $('action').textContent = op + ' domain ' + domid + '...';
    ws.send(JSON.stringify({ id: id, op: op, domid: domid }));
  }
  function token() {
    var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : '';
  }
  function connect() {
    var t = token();
    if (!t) {
      $('status').textContent = 'no token: open the address pvsim up printed (it ends in #token=...)';
      return;
    }
    ws = new WebSocket('ws://' + location.host + '/ws?token=' + encodeURIComponent(t));
    ws.onopen = function () { state.connected = true; $('status').textContent = 'live'; $('status').className = 'live'; };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'sample') render(m);
      else if (m.type === 'status') $('status').textContent = 'machine not answering: ' + m.error;
      else if (m.type === 'result') {
        state.results.push(m);
        $('action').textContent = m.op + ' domain ' + m.domid + ': ' + (m.rc === 0 ? 'done' : 'failed (' + m.rc + '): ' + m.error);
      }
    };
    ws.onclose = function () {
      state.connected = false;
      $('status').textContent = 'disconnected; reconnecting';
      $('status').className = 'down';
      setTimeout(connect, 2000);
    };
  }
  document.addEventListener('DOMContentLoaded', function () {
    makeChart('chart-cpu', 'CPU (%)');
    makeChart('chart-mem', 'memory (MiB)');
    makeChart('chart-blk', 'block requests / s');
    makeChart('chart-net', 'network KiB / s');
    $('dom-select').addEventListener('change', function () { state.selected = $('dom-select').value; renderTables(); });
    connect();
  });
})();`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
header { display: flex; gap: 1.5em; align-items: baseline; border-bottom: 1px solid #ccc; padding: .6em 0; }
header h1 { font-size: 1.3em; margin: 0; }
#status.live { color: #2a7d2a; } #status.down { color: #b22; }
#clock { color: #555; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #eee; }
th { background: #f4f4f4; }
td:nth-child(2) { text-align: left; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1em; }
figure { margin: 0; height: 240px; position: relative; }
figcaption { font-weight: 600; }
figure div { position: absolute; inset: 1.5em 0 0 0; }
.actions button { margin-right: 3px; font-size: 12px; }
.pair { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
#action { margin-top: .4em; color: #444; }
`;

function head(cols: string[]): string {
  return `<thead><tr>${cols.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody></tbody>`;
}

function figure(id: string, caption: string): string {
  return `<figure><figcaption>${caption}</figcaption><div><canvas id="${id}"></canvas></div></figure>`;
}

const BODY = `
<header><h1>pvsim</h1><span id="status">connecting</span><span id="clock"></span></header>
<h2>Domains</h2>
<table id="domains">${head(['domid', 'name', 'state', 'CPU(sec)', 'CPU(%)', 'MEM(k)', 'VCPUS', 'NETS', 'NETTX(k)', 'NETRX(k)', 'VBDS', 'VBD_RD', 'VBD_WR', ''])}</table>
<div id="action"></div>
<h2>Over time</h2>
<section class="charts">
${figure('chart-cpu', 'CPU share per domain')}
${figure('chart-mem', 'Memory per domain')}
${figure('chart-blk', 'Block I/O per domain')}
${figure('chart-net', 'Network I/O per domain')}
</section>
<h2>vCPUs</h2>
<table id="vcpus">${head(['domain', 'domid', 'vcpu', 'pCPU', 'state', 'time(s)'])}</table>
<h2>dom0's backends and their rings</h2>
<table id="rings">${head(['domid', 'device', 'ring', 'size', 'req_prod', 'req_cons', 'rsp_prod_pvt', 'rsp_prod', 'req_event', 'rsp_event', 'port', 'unconsumed'])}</table>
<h2>Event channels and grant table of <select id="dom-select"></select></h2>
<div id="tables-note"></div>
<div class="pair">
<table id="evtchns">${head(['port', 'state', 'bound to', 'vcpu', 'pending', 'masked'])}</table>
<table id="grants">${head(['ref', 'flags', 'domid', 'frame', 'pin'])}</table>
</div>
`;

function sha256(code: string): string {
  return `'sha256-${createHash('sha256').update(code).digest('base64')}'`;
}

let cached: { port: number; html: string; csp: string } | undefined;

/** The page for a dashboard on `port` (the port is part of the policy's allowed connections). */
export function dashboardPage(port: number): { html: string; csp: string } {
  if (cached?.port === port) return cached;
  const lib = scriptSafe(loadChartLibrary().code);
  const client = scriptSafe(CLIENT_JS);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(lib)} ${sha256(client)}`,
    "style-src 'unsafe-inline'",
    `connect-src ws://127.0.0.1:${port} ws://localhost:${port}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pvsim dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>${STYLE}</style>
<script>${lib}</script>
<script>${client}</script>
</head><body>${BODY}</body></html>
`;
  cached = { port, html, csp };
  return cached;
}
