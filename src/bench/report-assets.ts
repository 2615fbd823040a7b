/** The report page's stylesheet and plotting script, inlined into report.html by report.ts. */

export const CSS = `
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
.plot .series.p50{stroke-width:1;stroke-opacity:.6}
.plot .point{stroke:var(--bg);stroke-width:1.5}.plot .point.bare{fill-opacity:.55}
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
export const CLIENT = String.raw`
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
      series.push({ run: run, colour: colour(i), pts: pts, count: d.count });
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

  /** Nothing to plot: the reason, and the runs left out. */
  function nothing(box, emptyText, skipped) {
    html('p', 'empty', box, emptyText);
    if (skipped.length) html('p', 'skipped', box, 'Not plotted: ' + skipped.join(', '));
  }

  /** The largest x, and the least and largest y, over the series' points (x at index 0, y at indices ylo and yhi). */
  function extent(series, ylo, yhi) {
    var e = { x: 0, lo: Infinity, hi: 0 };
    series.forEach(function (s) {
      s.pts.forEach(function (pt) {
        if (pt[0] > e.x) e.x = pt[0];
        if (pt[ylo] < e.lo) e.lo = pt[ylo];
        if (pt[yhi] > e.hi) e.hi = pt[yhi];
      });
    });
    return e;
  }

  /**
   * Hover over a plot area (L, T, pw × ph of a W-wide viewBox): a vertical guide at the pointer
   * and a tip that fill(f, tip) writes, f the pointer's place across the area (0–1).
   */
  function hover(root, box, W, L, T, pw, ph, fill) {
    var guide = svg('line', { class: 'guide', y1: T, y2: T + ph, visibility: 'hidden' }, root);
    var tip = html('div', 'tip', box);
    var hit = svg('rect', { x: L, y: T, width: pw, height: ph, fill: 'transparent' }, root);
    hit.addEventListener('mousemove', function (ev) {
      var r = root.getBoundingClientRect();
      var f = Math.max(0, Math.min(1, ((((ev.clientX - r.left) / r.width) * W) - L) / pw));
      guide.setAttribute('x1', L + f * pw);
      guide.setAttribute('x2', L + f * pw);
      guide.setAttribute('visibility', 'visible');
      tip.textContent = '';
      fill(f, tip);
      tip.style.display = 'block';
      var bx = box.getBoundingClientRect();
      var left = ev.clientX - bx.left + 14;
      if (left + tip.offsetWidth > bx.width) left = ev.clientX - bx.left - tip.offsetWidth - 14;
      tip.style.left = left + 'px';
      tip.style.top = (ev.clientY - bx.top + 12) + 'px';
    });
    hit.addEventListener('mouseleave', function () { tip.style.display = 'none'; guide.setAttribute('visibility', 'hidden'); });
  }

  /** HDR plot: value (log) against percentile on a log "nines" axis. unitSeconds converts values to seconds. */
  function hdrPlot(id, pick, unitSeconds, yTitle, emptyText) {
    var box = document.getElementById(id);
    var got = seriesOf(pick);
    var series = got.series;
    if (series.length === 0) return nothing(box, emptyText, got.skipped);
    var W = 960, H = 340, L = 70, R = 36, T = 14, B = 46;
    var pw = W - L - R, ph = H - T - B;
    var ext = extent(series, 1, 1);
    var xN = Math.min(7, Math.max(5, Math.ceil(ext.x - 1e-9)));
    var y0 = Math.floor(Math.log10(ext.lo)), y1 = Math.ceil(Math.log10(ext.hi));
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
    var points = [];
    series.forEach(function (s) {
      // one point (a run that measured one message, a handler timed once) makes a path that
      // draws nothing: a dot at its value instead, and the value said under the plot
      if (s.pts.length === 1) {
        var only = s.pts[0], said = duration(only[1] * unitSeconds);
        var dot = svg('circle', { class: 'point' + (s.run.side === 'bare' ? ' bare' : ''), cx: X(only[0]).toFixed(1), cy: Y(only[1]).toFixed(1), r: 4.5, fill: s.colour, 'data-run': s.run.label }, lines);
        svg('title', {}, dot).textContent = s.run.label + ': ' + said;
        points.push(s.run.label + ': ' + (s.count === 1 ? 'one value, ' + said : count(s.count) + ' values, one point to plot at ' + said));
        return;
      }
      var d = s.pts.map(function (pt, k) { return (k ? 'L' : 'M') + X(pt[0]).toFixed(1) + ',' + Y(pt[1]).toFixed(1); }).join(' ');
      var path = svg('path', { class: 'series' + (s.run.side === 'bare' ? ' bare' : ''), d: d, stroke: s.colour, 'data-run': s.run.label }, lines);
      svg('title', {}, path).textContent = s.run.label;
    });

    // Hover: a guide at the pointer's percentile and each run's value there.
    hover(root, box, W, L, T, pw, ph, function (f, tip) {
      var at = f * xN;
      html('b', '', tip, 'p ' + nines(at));
      series.forEach(function (s) {
        var v = null;
        for (var k = 0; k < s.pts.length; k++) { if (s.pts[k][0] >= at) { v = s.pts[k][1]; break; } }
        if (v === null) return;
        var row = html('div', '', tip);
        html('i', '', row).style.background = s.colour;
        row.appendChild(document.createTextNode(s.run.label + ': ' + duration(v * unitSeconds)));
      });
    });

    legend(box, series);
    if (points.length) html('p', 'skipped', box, 'Drawn as a point, no curve: ' + points.join('; ')).id = id + '-points';
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

  /** Latency over time: each run's p99 (thick) and p50 (thin) per interval, log scale; a dashed line where its measured window began. */
  function timelinePlot() {
    var box = document.getElementById('timeline');
    var series = [], skipped = [];
    runs.forEach(function (run, i) {
      var t = run.timeline;
      if (run.error) { skipped.push(run.label + ' (failed)'); return; }
      if (!t || !t.points) return;
      var pts = [];
      t.points.forEach(function (p) {
        if (finite(p[0]) && p[1] > 0 && finite(p[2]) && finite(p[3]) && p[2] > 0 && p[3] > 0) pts.push([(p[0] + t.intervalMs / 2) / 1000, p[2], p[3], p[4], p[1]]);
      });
      if (pts.length === 0) { skipped.push(run.label + ' (no samples)'); return; }
      // one interval (a run shorter than it) as a level line across it: a path of one point draws nothing
      if (pts.length === 1) {
        var half = t.intervalMs / 2000, only = pts[0];
        pts = [[only[0] - half, only[1], only[2], only[3], only[4]], [only[0] + half, only[1], only[2], only[3], only[4]]];
      }
      series.push({ run: run, colour: colour(i), pts: pts, from: (t.measuredFromMs || 0) / 1000, interval: t.intervalMs });
    });
    if (series.length === 0) return nothing(box, 'No run has a latency timeline.', skipped);
    var W = 960, H = 300, L = 70, R = 36, T = 14, B = 46;
    var pw = W - L - R, ph = H - T - B;
    var ext = extent(series, 1, 2);
    var st = step(Math.max(ext.x, 1e-3), 8);
    var xTop = Math.ceil(ext.x / st) * st || st;
    var y0 = Math.floor(Math.log10(ext.lo)), y1 = Math.ceil(Math.log10(ext.hi));
    if (y1 <= y0) y1 = y0 + 1;
    function X(t) { return L + (t / xTop) * pw; }
    function Y(v) { return T + ph - ((Math.log10(v) - y0) / (y1 - y0)) * ph; }
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', id: 'timeline-plot', 'aria-label': 'end-to-end latency over time' }, box);
    var grid = svg('g', {}, root);
    for (var e = y0; e <= y1; e++) {
      var v = Math.pow(10, e);
      svg('line', { class: 'grid major', x1: L, x2: L + pw, y1: Y(v), y2: Y(v) }, grid);
      text(grid, L - 8, Y(v) + 4, duration(v * 1e-3), { 'text-anchor': 'end' });
    }
    for (var x = 0; x <= xTop + st / 2; x += st) {
      svg('line', { class: 'grid', x1: X(x), x2: X(x), y1: T, y2: T + ph }, grid);
      text(grid, X(x), T + ph + 18, trim(x) + ' s', { 'text-anchor': 'middle' });
    }
    svg('line', { class: 'axis', x1: L, x2: L + pw, y1: T + ph, y2: T + ph }, root);
    svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: T + ph }, root);
    text(root, L + pw / 2, H - 6, 'time since consuming began', { 'text-anchor': 'middle', class: 'title' });
    text(root, 0, 0, 'latency (log scale)', { 'text-anchor': 'middle', class: 'title', transform: 'translate(16 ' + (T + ph / 2) + ') rotate(-90)' });
    var lines = svg('g', { class: 'lines' }, root);
    series.forEach(function (s) {
      if (s.from > 0) svg('line', { class: 'guide warmup', x1: X(s.from), x2: X(s.from), y1: T, y2: T + ph, stroke: s.colour, 'data-run': s.run.label }, lines);
      [[2, 'p99'], [1, 'p50']].forEach(function (k) {
        var d = s.pts.map(function (p, j) { return (j ? 'L' : 'M') + X(p[0]).toFixed(1) + ',' + Y(p[k[0]]).toFixed(1); }).join(' ');
        var path = svg('path', { class: 'series ' + k[1] + (s.run.side === 'bare' ? ' bare' : ''), d: d, stroke: s.colour, 'data-run': s.run.label }, lines);
        svg('title', {}, path).textContent = s.run.label + ' ' + k[1];
      });
    });
    hover(root, box, W, L, T, pw, ph, function (f, tip) {
      var at = f * xTop;
      html('b', '', tip, trim(at) + ' s');
      series.forEach(function (s) {
        var best = null;
        s.pts.forEach(function (p) { if (best === null || Math.abs(p[0] - at) < Math.abs(best[0] - at)) best = p; });
        if (best === null || Math.abs(best[0] - at) > s.interval / 1000) return;
        var row = html('div', '', tip);
        html('i', '', row).style.background = s.colour;
        row.appendChild(document.createTextNode(s.run.label + ': p50 ' + duration(best[1] * 1e-3) + ', p99 ' + duration(best[2] * 1e-3) + ', max ' + duration(best[3] * 1e-3) + ' (' + count(best[4]) + ' msgs)'));
      });
    });
    legend(box, series);
    if (skipped.length) html('p', 'skipped', box, 'Not plotted: ' + skipped.join(', ')).id = 'timeline-skipped';
  }

  hdrPlot('latency', function (r) { return r.latencyMs; }, 1e-3, 'end-to-end latency', 'No run has latency samples.');
  timelinePlot();
  hdrPlot('handler', function (r) { return r.handlerUs; }, 1e-6, 'handler time per message', 'No handler timings (bare runs measure none).');
  throughput();
})();
`;
