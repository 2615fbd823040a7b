/**
 * `wasmsg bench`'s output: `report.json` and `report.html`, one self-contained page (no network:
 * inline CSS, inline script, no fonts or images fetched). The header and the results table are
 * rendered here, every report string HTML-escaped; the plots (HDR percentile plots of end-to-end
 * and handler latency, throughput bars) are drawn as SVG in the browser by the inline script from
 * the report embedded as JSON, so the page and `report.json` cannot disagree.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CLIENT, CSS } from './report-assets.js';
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
<h2>End-to-end latency over time</h2>
<p class="note">Per interval of each run, by when its messages settled, the warm-up included (before the dashed
line): p99 (thick) and p50 (thin). A start-up transient, a stall or a run that never caught up shows here.</p>
<div class="plot" id="timeline"></div>
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
    n(
      r.msgsPerSec,
      `${fmt(r.measured)} messages in ${fmt(r.elapsedMs)} ms${r.secondHalfMsgsPerSec === undefined ? '' : `; the second half ${fmt(r.secondHalfMsgsPerSec)} msgs/s`}`,
    ),
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
        : `<td title="bare: ${esc(fmt(r.baseline.msgsPerSec))} msgs/s${r.baseline.secondHalfRatio === undefined ? '' : `; over each run's second half ${r.baseline.secondHalfRatio.toFixed(2)}×`}">${Number.isFinite(r.baseline.ratio) ? r.baseline.ratio.toFixed(2) : '—'}×</td>`,
    );
  }
  if (!failed) return `<tr>${cells.join('')}</tr>`;
  return `<tr class="failed">${cells.join('')}</tr>
<tr class="failed error-row"><td colspan="${columns}" class="l error"><b>error:</b> ${esc(r.error ?? '')}</td></tr>`;
}
