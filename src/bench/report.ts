/**
 * `wasmsg bench`'s output: `report.json` and `report.html`, one self-contained page (no network:
 * inline CSS, inline script, no fonts or images fetched). The header and the results table are
 * rendered here, every report string HTML-escaped; the plots (HDR percentile plots of end-to-end
 * and handler latency, throughput bars) are drawn as SVG in the browser by the inline script from
 * the report embedded as JSON, so the page and `report.json` cannot disagree.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BenchReport, Distribution, RunResult } from './types.js';

/** Writes `report.json` (pretty) and `report.html` into `dir` (created), returns their paths. */
export async function writeReport(dir: string, report: BenchReport): Promise<{ json: string; html: string }> {
  const at = resolve(dir);
  await mkdir(at, { recursive: true });
  const json = join(at, 'report.json');
  const html = join(at, 'report.html');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(html, renderHtml(report));
  return { json, html };
}

/** The report as one HTML page; it needs no network, but a browser must run its script to show the plots. */
export function renderHtml(report: BenchReport): string {
  const failed = report.runs.filter((r) => r.error !== undefined).length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wasmsg bench — ${esc(dateText(report.createdAt))}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>wasmsg bench</h1>
<p class="cmd"><code>${esc(report.command)}</code></p>
<dl class="meta">
<div><dt>Date</dt><dd>${esc(dateText(report.createdAt))}</dd></div>
<div><dt>Machine</dt><dd>${esc(machineText(report.machine))}</dd></div>
<div><dt>Runs</dt><dd>${report.runs.length}${failed > 0 ? ` <span class="bad">(${failed} failed)</span>` : ''}</dd></div>
</dl>
</header>
<main>
<section>
<h2>Results</h2>
${resultsTable(report.runs)}
<p class="note">Latency: end to end, from the message's produce time (its intended send time in rate mode) to
settled (acked to the broker). Handler: the component's time per message as the workers measure it.
CPU: % of one core over the run's wall-clock time. <em>bare</em>: the broker's own npm client on the same
workload, the baseline.</p>
</section>
<section>
<h2>Throughput</h2>
<div class="plot" id="throughput"></div>
</section>
<section>
<h2>End-to-end latency by percentile</h2>
<div class="plot" id="latency"></div>
</section>
<section>
<h2>Handler time by percentile</h2>
<div class="plot" id="handler"></div>
</section>
</main>
<noscript><p class="note">The plots are drawn by this page's script: allow JavaScript to see them.</p></noscript>
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text or attribute value → HTML. */
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/**
 * JSON safe inside `<script>`: `<` (so neither `</script>` nor `<!--` can appear), `>`, `&` and the
 * two line separators are written as \u escapes, which JSON.parse reads back unchanged.
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function dateText(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function machineText(m: BenchReport['machine']): string {
  return `${m.cpus} × ${m.cpuModel}, ${fmt(m.memoryGb)} GB, Node ${m.node}, ${m.platform}`;
}

/** A number for the table: 3 significant digits below 100, whole numbers with thousands separators above. */
function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString('en-US');
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function workloadText(r: RunResult): string {
  const p = r.params;
  const parts = [`${p.messages.toLocaleString('en-US')} × ${p.size} B`];
  if (p.keys > 0) parts.push(`${p.keys} keys`);
  parts.push(`${p.workers} worker${p.workers === 1 ? '' : 's'}`, `batch ${p.batch}`, p.ordering);
  if (p.workUs > 0) parts.push(`work ${p.workUs} µs`);
  parts.push(p.mode === 'rate' ? `${p.rate.toLocaleString('en-US')} msgs/s fixed` : 'throughput');
  if (p.component !== '') parts.push(p.component);
  return parts.join(' · ');
}

function resultsTable(runs: readonly RunResult[]): string {
  const withBaseline = runs.some((r) => r.baseline !== undefined);
  const head1 = [
    '<th rowspan="2" class="l">Run</th>',
    '<th rowspan="2" class="l">Side</th>',
    '<th rowspan="2" class="l">Broker</th>',
    '<th rowspan="2">msgs/s</th>',
    '<th rowspan="2">MB/s</th>',
    '<th colspan="4" class="grp">Latency, ms</th>',
    '<th colspan="2" class="grp">Handler, µs</th>',
    '<th colspan="2" class="grp">CPU, % of a core</th>',
    '<th rowspan="2">Peak RSS, MB</th>',
    withBaseline ? '<th rowspan="2">vs bare</th>' : '',
  ].join('');
  const head2 = ['p50', 'p99', 'p99.9', 'max', 'p50', 'p99', 'main', 'workers'].map((h) => `<th>${h}</th>`).join('');
  const columns = 14 + (withBaseline ? 1 : 0);
  const rows = runs.map((r) => runRow(r, withBaseline, columns)).join('\n');
  return `<div class="scroll"><table class="results" id="results">
<thead><tr>${head1}</tr><tr>${head2}</tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`;
}

/** A run's row; a failed run's numbers are dashes and its error is the row below, across the table. */
function runRow(r: RunResult, withBaseline: boolean, columns: number): string {
  const failed = r.error !== undefined;
  const n = (v: number, title?: string): string =>
    failed ? '<td class="na">—</td>' : `<td${title === undefined ? '' : ` title="${esc(title)}"`}>${fmt(v)}</td>`;
  const dist = (d: Distribution | null, keys: readonly ('p50' | 'p99' | 'p999' | 'max')[]): string =>
    keys.map((k) => (d === null || d.count === 0 ? '<td class="na">—</td>' : n(d[k]))).join('');
  const pct = (cpu: number): string => {
    const v = r.elapsedMs > 0 ? (cpu / r.elapsedMs) * 100 : NaN;
    return n(v, `${fmt(cpu)} ms CPU`);
  };
  const cells = [
    `<td class="l"><span class="label">${esc(r.label)}</span><span class="params">${esc(workloadText(r))}</span></td>`,
    `<td class="l"><span class="side side-${r.side === 'bare' ? 'bare' : 'engine'}">${esc(r.side)}</span></td>`,
    `<td class="l"><span class="broker" title="${esc(r.params.broker)}">${esc(r.params.broker)}</span></td>`,
    n(r.msgsPerSec, `${fmt(r.measured)} messages in ${fmt(r.elapsedMs)} ms`),
    n(r.mbPerSec),
    dist(r.latencyMs, ['p50', 'p99', 'p999', 'max']),
    dist(r.handlerUs, ['p50', 'p99']),
    pct(r.cpuMs.mainThread),
    pct(r.cpuMs.workers),
    n(r.peakRssMb),
  ];
  if (withBaseline) {
    cells.push(
      r.baseline === undefined || failed
        ? '<td class="na">—</td>'
        : `<td title="bare: ${esc(fmt(r.baseline.msgsPerSec))} msgs/s">${Number.isFinite(r.baseline.ratio) ? r.baseline.ratio.toFixed(2) : '—'}×</td>`,
    );
  }
  if (!failed) return `<tr>${cells.join('')}</tr>`;
  return `<tr class="failed">${cells.join('')}</tr>
<tr class="failed error-row"><td colspan="${columns}" class="l error"><b>error:</b> ${esc(r.error ?? '')}</td></tr>`;
}

const CSS = `
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--grid:#eef0f3;--axis:#9ca3af;--bg:#fff;--panel:#f9fafb;--bad:#b91c1c;--badbg:#fef2f2;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
@media (prefers-color-scheme:dark){:root{--fg:#e5e7eb;--muted:#9ca3af;--line:#374151;--grid:#1f2937;--axis:#6b7280;--bg:#111827;--panel:#1a2230;--bad:#f87171;--badbg:#2a1717}}
body{margin:0 auto;padding:24px 28px 40px;max-width:1180px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:28px 0 10px}
.cmd code{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:3px 6px;display:inline-block;white-space:pre-wrap;word-break:break-all}
.meta{display:flex;flex-wrap:wrap;gap:6px 28px;margin:10px 0 0}.meta div{display:flex;gap:8px}.meta dt{color:var(--muted)}.meta dd{margin:0}
.bad{color:var(--bad)}
.scroll{overflow-x:auto}
table.results{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums;width:100%}
.results th,.results td{padding:5px 6px;text-align:right;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
.results th{font-weight:600;color:var(--muted);background:var(--panel)}
.results th.grp{text-align:center;border-bottom:1px solid var(--line)}
.results .l{text-align:left}
.results .label{font-weight:600;display:block}
.results td:first-child{white-space:normal;min-width:200px;max-width:300px}
.results .params{display:block;color:var(--muted);font-size:11px}
.results .broker{display:inline-block;max-width:230px;overflow:hidden;text-overflow:ellipsis;vertical-align:top}
.results td.na{color:var(--axis)}
.results tr.failed td{background:var(--badbg)}
.results tr.failed:has(+ .error-row) td{border-bottom:0}
.results td.error{color:var(--bad);white-space:pre-wrap;overflow-wrap:anywhere;padding-top:0}
.side{font-size:11px;padding:1px 6px;border-radius:9px;border:1px solid var(--line)}
.side-engine{background:#dbeafe;color:#1e40af;border-color:#bfdbfe}.side-bare{background:#f3f4f6;color:#374151;border-color:#d1d5db}
.note{color:var(--muted);font-size:12px;max-width:900px}
.plot{position:relative}
.plot svg{display:block;width:100%;height:auto;overflow:visible}
.plot text{fill:var(--muted);font-size:11px}
.plot .title{fill:var(--fg);font-size:12px}
.plot .grid{stroke:var(--grid)}.plot .grid.major{stroke:var(--line)}
.plot .axis{stroke:var(--axis)}
.plot .series{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
.plot .series.bare{stroke-dasharray:6 4}
.plot .guide{stroke:var(--axis);stroke-dasharray:3 3}
.plot .barlabel{fill:var(--fg);font-size:12px}
.plot .value{fill:var(--fg)}
.plot .failedtext{fill:var(--bad)}
.legend{list-style:none;margin:6px 0 0 64px;padding:0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12.5px}
.legend li{display:flex;align-items:center;gap:6px}
.legend svg{width:28px;height:10px}
.legend .side{font-size:10.5px}
.skipped{color:var(--muted);font-size:12px;margin:4px 0 0 64px}
.empty{color:var(--muted);font-size:13px;padding:12px 0}
.tip{position:absolute;pointer-events:none;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:6px 8px;font-size:12px;box-shadow:0 2px 8px rgba(0,0,0,.12);white-space:nowrap;display:none}
.tip b{display:block;margin-bottom:2px}.tip i{display:inline-block;width:10px;height:3px;margin-right:6px;vertical-align:middle}
`.replace(/\n/g, '');

/**
 * The plots, drawn in the browser from #report-data. Plain ES5-ish JavaScript in a string (no
 * backticks, no `${`), using only textContent and setAttribute for report strings, so a label
 * cannot become markup.
 */
const CLIENT = String.raw`
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var runs = report.runs || [];

  function svg(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, cls, parent, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, attrs) {
    var t = svg('text', attrs || {}, parent);
    t.setAttribute('x', x);
    t.setAttribute('y', y);
    t.textContent = s;
    return t;
  }
  function colour(i) { return COLORS[i % COLORS.length]; }
  function finite(v) { return typeof v === 'number' && isFinite(v); }
  function trim(n) { return String(Number(n.toPrecision(3))); }

  /** A duration in seconds with a unit that keeps the number readable. */
  function duration(s) {
    if (!(s > 0)) return '0';
    if (s >= 1) return trim(s) + ' s';
    if (s >= 1e-3) return trim(s * 1e3) + ' ms';
    if (s >= 1e-6) return trim(s * 1e6) + ' µs';
    return trim(s * 1e9) + ' ns';
  }
  /** Percentile label of a "nines" position n (x = 10^n = 1/(1-p/100)). */
  function nines(n) {
    if (n <= 0) return '0%';
    var p = 100 * (1 - Math.pow(10, -n));
    var digits = Math.max(0, Math.ceil(n - 2 + 1e-9));
    return p.toFixed(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '') + '%';
  }
  function count(n) { return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function compact(n) {
    if (n >= 1e6) return trim(n / 1e6) + 'M';
    if (n >= 1e3) return trim(n / 1e3) + 'k';
    return trim(n);
  }

  /** Series of one distribution: points [nines, value] with 0 <= p < 100 and value > 0. */
  function seriesOf(pick) {
    var series = [], skipped = [];
    runs.forEach(function (run, i) {
      var d = pick(run);
      if (!d) return;
      if (run.error) { skipped.push(run.label + ' (failed)'); return; }
      var pts = [];
      (d.percentiles || []).forEach(function (pv) {
        var p = pv[0], v = pv[1];
        if (finite(p) && finite(v) && p >= 0 && p < 100 && v > 0) pts.push([Math.log10(100 / (100 - p)), v]);
      });
      if (!(d.count > 0) || pts.length === 0) { skipped.push(run.label + ' (no samples)'); return; }
      pts.sort(function (a, b) { return a[0] - b[0]; });
      series.push({ run: run, colour: colour(i), pts: pts });
    });
    return { series: series, skipped: skipped };
  }

  function legend(container, series) {
    var ul = html('ul', 'legend', container);
    ul.id = container.id + '-legend';
    series.forEach(function (s) {
      var li = html('li', '', ul);
      var sw = svg('svg', { viewBox: '0 0 28 10' }, li);
      svg('line', { x1: 1, y1: 5, x2: 27, y2: 5, stroke: s.colour, 'stroke-width': 2.5, 'stroke-dasharray': s.run.side === 'bare' ? '6 4' : 'none' }, sw);
      html('span', 'name', li, s.run.label);
      if (s.run.side === 'bare') html('span', 'side side-bare', li, 'bare');
    });
  }

  /** HDR plot: value (log) against percentile on a log "nines" axis. unitSeconds converts values to seconds. */
  function hdrPlot(id, pick, unitSeconds, yTitle, emptyText) {
    var box = document.getElementById(id);
    var got = seriesOf(pick);
    var series = got.series;
    if (series.length === 0) {
      html('p', 'empty', box, emptyText);
      if (got.skipped.length) html('p', 'skipped', box, 'Not plotted: ' + got.skipped.join(', '));
      return;
    }
    var W = 960, H = 340, L = 70, R = 36, T = 14, B = 46;
    var pw = W - L - R, ph = H - T - B;
    var maxN = 0, lo = Infinity, hi = 0;
    series.forEach(function (s) {
      s.pts.forEach(function (pt) {
        if (pt[0] > maxN) maxN = pt[0];
        if (pt[1] < lo) lo = pt[1];
        if (pt[1] > hi) hi = pt[1];
      });
    });
    var xN = Math.min(7, Math.max(5, Math.ceil(maxN - 1e-9)));
    var y0 = Math.floor(Math.log10(lo)), y1 = Math.ceil(Math.log10(hi));
    if (y1 <= y0) y1 = y0 + 1;
    function X(n) { return L + (Math.min(n, xN) / xN) * pw; }
    function Y(v) { return T + ph - ((Math.log10(v) - y0) / (y1 - y0)) * ph; }

    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', id: id + '-plot', 'aria-label': yTitle + ' by percentile' }, box);
    var grid = svg('g', {}, root);
    var decades = y1 - y0;
    for (var e = y0; e <= y1; e++) {
      var v = Math.pow(10, e);
      svg('line', { class: 'grid major', x1: L, x2: L + pw, y1: Y(v), y2: Y(v) }, grid);
      text(grid, L - 8, Y(v) + 4, duration(v * unitSeconds), { 'text-anchor': 'end' });
      if (e < y1 && decades <= 5) {
        for (var m = 2; m <= 9; m++) {
          var mv = m * v;
          svg('line', { class: 'grid', x1: L, x2: L + pw, y1: Y(mv), y2: Y(mv) }, grid);
          if (decades <= 2 && (m === 2 || m === 5)) text(grid, L - 8, Y(mv) + 4, duration(mv * unitSeconds), { 'text-anchor': 'end' });
        }
      }
    }
    for (var n = 0; n <= xN; n++) {
      svg('line', { class: 'grid major', x1: X(n), x2: X(n), y1: T, y2: T + ph }, grid);
      text(grid, X(n), T + ph + 18, nines(n), { 'text-anchor': 'middle' });
      if (n < xN) {
        [Math.log10(2), Math.log10(5)].forEach(function (f) {
          svg('line', { class: 'grid', x1: X(n + f), x2: X(n + f), y1: T, y2: T + ph }, grid);
        });
      }
    }
    svg('line', { class: 'axis', x1: L, x2: L + pw, y1: T + ph, y2: T + ph }, root);
    svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + ph }, root);
    text(root, L + pw / 2, H - 6, 'percentile', { 'text-anchor': 'middle', class: 'title' });
    text(root, 0, 0, yTitle + ' (log scale)', { 'text-anchor': 'middle', class: 'title', transform: 'translate(16 ' + (T + ph / 2) + ') rotate(-90)' });

    var lines = svg('g', { class: 'lines' }, root);
    series.forEach(function (s) {
      var d = s.pts.map(function (pt, k) { return (k ? 'L' : 'M') + X(pt[0]).toFixed(1) + ',' + Y(pt[1]).toFixed(1); }).join(' ');
      var path = svg('path', { class: 'series' + (s.run.side === 'bare' ? ' bare' : ''), d: d, stroke: s.colour, 'data-run': s.run.label }, lines);
      svg('title', {}, path).textContent = s.run.label;
    });

    // Hover: a guide at the pointer's percentile and each run's value there.
    var guide = svg('line', { class: 'guide', y1: T, y2: T + ph, visibility: 'hidden' }, root);
    var tip = html('div', 'tip', box);
    var hit = svg('rect', { x: L, y: T, width: pw, height: ph, fill: 'transparent' }, root);
    hit.addEventListener('mousemove', function (ev) {
      var r = root.getBoundingClientRect();
      var px = ((ev.clientX - r.left) / r.width) * W;
      var at = Math.max(0, Math.min(xN, ((px - L) / pw) * xN));
      guide.setAttribute('x1', X(at));
      guide.setAttribute('x2', X(at));
      guide.setAttribute('visibility', 'visible');
      tip.textContent = '';
      html('b', '', tip, 'p ' + nines(at));
      series.forEach(function (s) {
        var v = null;
        for (var k = 0; k < s.pts.length; k++) { if (s.pts[k][0] >= at) { v = s.pts[k][1]; break; } }
        if (v === null) return;
        var row = html('div', '', tip);
        html('i', '', row).style.background = s.colour;
        row.appendChild(document.createTextNode(s.run.label + ': ' + duration(v * unitSeconds)));
      });
      tip.style.display = 'block';
      var bx = box.getBoundingClientRect();
      var left = ev.clientX - bx.left + 14;
      if (left + tip.offsetWidth > bx.width) left = ev.clientX - bx.left - tip.offsetWidth - 14;
      tip.style.left = left + 'px';
      tip.style.top = (ev.clientY - bx.top + 12) + 'px';
    });
    hit.addEventListener('mouseleave', function () { tip.style.display = 'none'; guide.setAttribute('visibility', 'hidden'); });

    legend(box, series);
    if (got.skipped.length) html('p', 'skipped', box, 'Not plotted: ' + got.skipped.join(', ')).id = id + '-skipped';
  }

  /** "Nice" axis step: 1, 2 or 5 times a power of ten, about want steps over max. */
  function step(max, want) {
    var raw = max / want, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function throughput() {
    var box = document.getElementById('throughput');
    if (runs.length === 0) { html('p', 'empty', box, 'No runs.'); return; }
    var row = 30, L = 280, R = 150, T = 8, W = 960;
    var H = T + runs.length * row + 44;
    var pw = W - L - R;
    var max = 0;
    runs.forEach(function (r) { if (!r.error && finite(r.msgsPerSec) && r.msgsPerSec > max) max = r.msgsPerSec; });
    var st = max > 0 ? step(max, 6) : 1;
    var top = max > 0 ? Math.ceil(max / st) * st : 1;
    function X(v) { return L + (v / top) * pw; }
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', id: 'throughput-plot', 'aria-label': 'msgs/s per run' }, box);
    var defs = svg('defs', {}, root);
    var pat = svg('pattern', { id: 'hatch', patternUnits: 'userSpaceOnUse', width: 6, height: 6, patternTransform: 'rotate(45)' }, defs);
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#fff', 'stroke-width': 3, 'stroke-opacity': 0.55 }, pat);
    var yb = T + runs.length * row;
    for (var v = 0; v <= top + st / 2; v += st) {
      svg('line', { class: 'grid' + (v === 0 ? ' major' : ''), x1: X(v), x2: X(v), y1: T, y2: yb }, root);
      text(root, X(v), yb + 16, compact(v), { 'text-anchor': 'middle' });
    }
    text(root, L + pw / 2, yb + 36, 'msgs/s', { 'text-anchor': 'middle', class: 'title' });
    runs.forEach(function (r, i) {
      var y = T + i * row;
      var lab = text(root, L - 10, y + row / 2 + 4, r.label, { 'text-anchor': 'end', class: 'barlabel' });
      for (var cut = r.label.length - 1; cut > 4 && lab.getComputedTextLength() > L - 14; cut--) {
        lab.textContent = r.label.slice(0, cut) + '…';
      }
      svg('title', {}, lab).textContent = r.label + ' (' + r.side + ')';
      if (r.error) {
        text(root, L + 6, y + row / 2 + 4, 'failed: see the table', { class: 'failedtext' });
        return;
      }
      var val = finite(r.msgsPerSec) && r.msgsPerSec > 0 ? r.msgsPerSec : 0;
      var w = Math.max(val > 0 ? 1 : 0, X(val) - L);
      var g = svg('g', { class: 'bar-row', 'data-run': r.label }, root);
      var bar = svg('rect', { class: 'bar ' + r.side, 'data-run': r.label, x: L, y: y + 5, width: w, height: row - 10, rx: 2, fill: colour(i) }, g);
      svg('title', {}, bar).textContent = r.label + ': ' + count(val) + ' msgs/s';
      if (r.side === 'bare') {
        bar.setAttribute('fill-opacity', '0.55');
        svg('rect', { x: L, y: y + 5, width: w, height: row - 10, rx: 2, fill: 'url(#hatch)' }, g);
      }
      var note = count(val) + ' msgs/s';
      if (r.side === 'bare') note += '  (bare)';
      else if (r.baseline && finite(r.baseline.ratio)) note += '  ·  ' + r.baseline.ratio.toFixed(2) + '× bare';
      text(root, L + w + 6, y + row / 2 + 4, note, { class: 'value' });
    });
  }

  hdrPlot('latency', function (r) { return r.latencyMs; }, 1e-3, 'end-to-end latency', 'No run has latency samples.');
  hdrPlot('handler', function (r) { return r.handlerUs; }, 1e-6, 'handler time per message', 'No handler timings (bare runs measure none).');
  throughput();
})();
`;
