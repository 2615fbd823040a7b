import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { renderHtml, writeReport } from '../../src/bench/report.js';
import type { TimelineData, TimelinePoint } from '../../src/bench/timeline.js';
import type { BenchReport, Distribution, PercentilePoint, RunParams, RunResult } from '../../src/bench/types.js';
import { chromium, element } from './browser.js';

/** The HTML report, rendered by a real headless browser (Debian's chromium): its script must draw the plots. */

const EVIL = '</script><img src=x onerror=alert(1)>';

/**
 * A distribution shaped like HdrHistogram's percentile output: percentiles that halve the distance
 * to 100 in 5 ticks each, values growing from p50 towards a tail, ending at 100 with the max.
 */
function dist(count: number, p50: number, tail: number, max: number): Distribution {
  const percentiles: PercentilePoint[] = [];
  const at = (p: number): number => {
    const x = 1 / (1 - p / 100);
    return p50 * (0.55 + 0.45 * Math.pow(x / 2, tail));
  };
  for (let k = 0; ; k++) {
    const p = 100 * (1 - Math.pow(0.5, k / 5));
    if (p > 99.9999) break;
    percentiles.push([p, Math.min(max, at(p))]);
  }
  percentiles.push([100, max]);
  const value = (p: number): number => Math.min(max, at(p));
  return { count, mean: p50 * 1.2, p50, p90: value(90), p99: value(99), p999: value(99.9), max, percentiles };
}

/** A timeline of 30 intervals of 100 ms: a start-up transient, then steady; measured from 1 s. */
function timeline(p50: number, p99: number): TimelineData {
  const points = Array.from({ length: 30 }, (_, i): TimelinePoint => {
    const f = i < 5 ? 40 / (i + 1) : 1;
    return [i * 100, 1000, p50 * f, p99 * f, p99 * f * 1.5];
  });
  return { intervalMs: 100, measuredFromMs: 1000, points };
}

const empty: Distribution = { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, percentiles: [] };

function params(broker: string, scheme: string): RunParams {
  return {
    broker,
    scheme,
    component: 'noop.wasm',
    messages: 200_000,
    size: 256,
    keys: 0,
    workers: 2,
    batch: 64,
    ordering: 'partition',
    workUs: 0,
    mode: 'throughput',
    rate: 0,
  };
}

function run(over: Partial<RunResult> & Pick<RunResult, 'label' | 'side'>): RunResult {
  return {
    params: params('memory', 'memory'),
    measured: 200_000,
    elapsedMs: 1_250,
    msgsPerSec: 160_000,
    mbPerSec: 40.96,
    latencyMs: dist(200_000, 0.8, 0.45, 48),
    handlerUs: dist(200_000, 1.9, 0.35, 900),
    cpuMs: { process: 3_100, mainThread: 1_200, workers: 1_900 },
    peakRssMb: 182,
    nodeFlags: ['--initial-old-space-size=128'],
    ...over,
  };
}

const report: BenchReport = {
  version: 1,
  createdAt: '2026-11-26T01:00:00.000Z',
  command: 'wasmsg bench --brokers memory,redis://127.0.0.1:6379 --messages 200000 --baseline',
  machine: { cpus: 2, cpuModel: 'AMD EPYC 7B13', memoryGb: 7.8, node: 'v20.19.5', platform: 'linux x64' },
  runs: [
    run({ label: 'memory', side: 'engine', timeline: timeline(0.8, 4) }),
    run({
      label: 'redis 256 B',
      side: 'engine',
      params: params('redis://127.0.0.1:6379', 'redis'),
      timeline: timeline(6.5, 40),
      msgsPerSec: 41_500,
      mbPerSec: 10.6,
      latencyMs: dist(200_000, 6.5, 0.55, 820),
      handlerUs: dist(200_000, 2.4, 0.5, 2_400),
      baseline: { msgsPerSec: 52_000, ratio: 41_500 / 52_000 },
    }),
    run({
      label: `redis bare ${EVIL}`,
      side: 'bare',
      params: params('redis://127.0.0.1:6379', 'redis'),
      msgsPerSec: 52_000,
      mbPerSec: 13.3,
      latencyMs: dist(200_000, 4.1, 0.5, 610),
      handlerUs: null,
      cpuMs: { process: 1_400, mainThread: 1_400, workers: 0 },
      peakRssMb: 95,
    }),
    run({
      label: 'nats 256 B',
      side: 'engine',
      params: params('nats://127.0.0.1:4222', 'nats'),
      measured: 0,
      elapsedMs: 0,
      msgsPerSec: 0,
      mbPerSec: 0,
      latencyMs: empty,
      handlerUs: empty,
      cpuMs: { process: 0, mainThread: 0, workers: 0 },
      peakRssMb: 0,
      error: 'connect ECONNREFUSED 127.0.0.1:4222 <nats>',
    }),
  ],
};
const plotted = report.runs.filter((r) => r.error === undefined);

/** Text as the browser serialises it in --dump-dom. */
const asText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

describe('bench report (report.html in headless chromium)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsg-report-'));
  let written: { json: string; html: string };
  let page: string;
  before(async () => {
    written = await writeReport(join(dir, 'out', 'nested'), report);
    page = pathToFileURL(written.html).href;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The DOM chromium makes of the report with these runs (a page and a browser profile named `name`). */
  async function renderedDom(name: string, runs: RunResult[]): Promise<string> {
    const html = join(dir, `${name}.html`);
    writeFileSync(html, renderHtml({ ...report, runs }));
    return chromium([`--user-data-dir=${join(dir, `profile-${name}`)}`, '--dump-dom', pathToFileURL(html).href]);
  }

  test('writeReport writes report.json (the report, pretty) and report.html', () => {
    assert.equal(written.json, join(dir, 'out', 'nested', 'report.json'));
    assert.equal(written.html, join(dir, 'out', 'nested', 'report.html'));
    const json = readFileSync(written.json, 'utf8');
    assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(report)));
    assert.match(json, /^\{\n {2}"version": 1,/);
    assert.equal(readFileSync(written.html, 'utf8'), renderHtml(report));
  });

  test('self-contained: no external src/href, no url() in CSS, no @import', () => {
    const html = renderHtml(report);
    assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    assert.doesNotMatch(html, /url\(\s*["']?\s*(?:https?:)?\/\//i);
    assert.doesNotMatch(html, /@import/i);
  });

  test('a label cannot break out of the JSON script or the table', () => {
    const html = renderHtml(report);
    assert.doesNotMatch(html, /<img/i);
    assert.equal(html.match(/<script\b/g)?.length, 2);
    assert.equal(html.match(/<\/script>/g)?.length, 2);
    assert.ok(html.includes(asText(`redis bare ${EVIL}`)), 'the label is shown, escaped, in the table');
    const data = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
    assert.ok(data !== null);
    assert.deepEqual(JSON.parse(data[1]!), JSON.parse(JSON.stringify(report)));
  });

  test('chromium runs the script: latency, handler and throughput plots, legends, the error in the table', async () => {
    const dom = await chromium([`--user-data-dir=${join(dir, 'profile-dom')}`, '--dump-dom', page]);
    assert.doesNotMatch(dom, /<img/i, 'a label injected an element');

    const latency = element(dom, 'svg', 'latency-plot');
    const paths = [...latency.matchAll(/<path class="series[^"]*"[^>]*\bd="([^"]*)"/g)];
    assert.equal(paths.length, plotted.length, 'one line per run that did not fail');
    for (const p of paths) assert.match(p[1]!, /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){10,}$/);
    const legend = element(dom, 'ul', 'latency-legend');
    for (const r of plotted) assert.ok(legend.includes(`>${asText(r.label)}<`), `legend names ${r.label}`);
    assert.ok(!legend.includes('nats 256 B'), 'the failed run is not in the legend');
    assert.match(element(dom, 'p', 'latency-skipped'), /Not plotted: nats 256 B \(failed\)/);
    for (const label of ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%']) {
      assert.ok(latency.includes(`>${label}</text>`), `x axis labels ${label}`);
    }

    // latency over time: p99 and p50 lines for each run with a timeline (the bare one has none:
    // a report from before timelines), and a dashed line where each one's measured window began
    const over = element(dom, 'svg', 'timeline-plot');
    const withTimeline = plotted.filter((r) => r.timeline !== undefined);
    const lines = [...over.matchAll(/<path class="series (p99|p50)[^"]*" d="(M[^"]+)"[^>]*data-run="([^"]*)"/g)];
    assert.deepEqual(
      lines.map((m) => `${m[3]} ${m[1]}`),
      withTimeline.flatMap((r) => [`${r.label} p99`, `${r.label} p50`]),
    );
    for (const m of lines) assert.match(m[2]!, /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){29}$/, 'a point per interval');
    assert.equal([...over.matchAll(/<line class="guide warmup"/g)].length, withTimeline.length);
    for (const label of ['0 s', '1 s', '2 s', '3 s'])
      assert.ok(over.includes(`>${label}</text>`), `x axis labels ${label}`);
    assert.match(element(dom, 'p', 'timeline-skipped'), /Not plotted: nats 256 B \(failed\)/);

    const handler = element(dom, 'svg', 'handler-plot');
    const handlerRuns = plotted.filter((r) => r.handlerUs !== null);
    assert.equal([...handler.matchAll(/<path class="series[^"]*"[^>]*\bd="M[^"]+"/g)].length, handlerRuns.length);

    const bars = element(dom, 'svg', 'throughput-plot');
    const rects = [...bars.matchAll(/<rect class="bar (engine|bare)"[^>]*\bwidth="([\d.]+)"/g)];
    assert.equal(rects.length, plotted.length, 'a bar per run that did not fail');
    assert.deepEqual(
      rects.map((m) => m[1]),
      plotted.map((r) => r.side),
    );
    for (const m of rects) assert.ok(Number(m[2]) > 0);
    assert.match(bars, /fill="url\(#hatch\)"/, 'the bare bar is hatched');
    assert.match(bars, /failed: see the table/);

    const table = element(dom, 'table', 'results');
    assert.ok(table.includes(asText('connect ECONNREFUSED 127.0.0.1:4222 <nats>')), 'the error is in the table');
    assert.ok(table.includes('0.80×'), 'the baseline ratio is in the table');
  });

  test('chromium: nothing to plot (a failed run, a run with no samples) still draws the rest of the page', async () => {
    const [failed] = report.runs.filter((r) => r.error !== undefined);
    const zero = run({
      label: 'mqtt 0 measured',
      side: 'engine',
      measured: 0,
      msgsPerSec: 0,
      mbPerSec: 0,
      latencyMs: empty,
      handlerUs: null,
    });
    const dom = await renderedDom('nothing', [failed!, zero]);
    assert.match(element(dom, 'div', 'latency'), /No run has latency samples\./);
    assert.match(element(dom, 'div', 'handler'), /No handler timings/);
    assert.match(element(dom, 'div', 'timeline'), /No run has a latency timeline\./);
    assert.match(dom, /Not plotted: nats 256 B \(failed\), mqtt 0 measured \(no samples\)/);
    const bars = element(dom, 'svg', 'throughput-plot');
    assert.match(bars, /failed: see the table/);
    assert.match(bars, /<rect class="bar engine" data-run="mqtt 0 measured"[^>]*width="0"/);
    assert.doesNotMatch(dom.replace(/<script\b.*?<\/script>/gs, ''), /NaN|Infinity/);
  });

  test('chromium: a run shorter than one timeline interval is drawn across it (a path of one point shows nothing)', async () => {
    const short = run({
      label: 'memory short',
      side: 'bare',
      handlerUs: null,
      timeline: { intervalMs: 100, measuredFromMs: 18, points: [[0, 3000, 18.4, 21.1, 21.1]] },
    });
    const dom = await renderedDom('short', [report.runs[0]!, short]);
    const over = element(dom, 'svg', 'timeline-plot');
    const lines = [...over.matchAll(/<path class="series (p99|p50)[^"]*" d="(M[^"]+)"[^>]*data-run="memory short"/g)];
    assert.deepEqual(
      lines.map((m) => m[1]),
      ['p99', 'p50'],
    );
    for (const m of lines) {
      const [, x0, y0, x1, y1] = /^M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)$/.exec(m[2]!) ?? [];
      assert.ok(x0 !== undefined, `a level line across the interval: ${m[2]}`);
      assert.equal(y0, y1);
      assert.ok(Number(x1) - Number(x0) > 10, `${x0} → ${x1}: wide enough to see`);
    }
  });

  test('chromium: a run with one latency value (one message measured) is drawn as a point, its value said', async () => {
    // before: its HDR series had one point ([0, v]; the max at 100 is off the nines axis), a path
    // of one point drew nothing, and the plot was empty but for the legend
    const one = (v: number): Distribution => ({
      count: 1,
      mean: v,
      p50: v,
      p90: v,
      p99: v,
      p999: v,
      max: v,
      percentiles: [
        [0, v],
        [100, v],
      ],
    });
    const single = run({
      label: 'memory one',
      side: 'engine',
      measured: 1,
      latencyMs: one(12.7),
      handlerUs: one(89.4),
    });
    const dom = await renderedDom('single', [report.runs[0]!, single]);
    for (const [id, said] of [
      ['latency', 'one value, 12.7 ms'],
      ['handler', 'one value, 89.4 µs'],
    ] as const) {
      const plot = element(dom, 'svg', `${id}-plot`);
      const dot =
        /<circle class="point"[^>]*\bcx="([\d.]+)" cy="([\d.]+)" r="[\d.]+" fill="[^"]+" data-run="memory one"/.exec(
          plot,
        );
      assert.ok(dot !== null, `${id}: a dot for the run`);
      const [, top, bottom] = [
        ...plot.matchAll(/<line class="axis" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)" y2="([\d.]+)"/g),
      ][1]!;
      assert.ok(Number(dot[2]) > Number(top) && Number(dot[2]) < Number(bottom), `${id}: the dot is inside the plot`);
      assert.ok(!/<path[^>]*data-run="memory one"/.test(plot), `${id}: no path of one point`);
      assert.match(plot, /<path class="series"[^>]*data-run="memory"/, `${id}: the other run's curve is still drawn`);
      assert.equal(
        element(dom, 'p', `${id}-points`),
        `<p class="skipped" id="${id}-points">Drawn as a point, no curve: memory one: ${said}`,
      );
    }
  });

  test('chromium screenshot: a full page, not blank', async () => {
    const png = join(dir, 'report.png');
    await chromium([
      `--user-data-dir=${join(dir, 'profile-shot')}`,
      '--hide-scrollbars',
      `--screenshot=${png}`,
      '--window-size=1200,1600',
      page,
    ]);
    const bytes = readFileSync(png);
    assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(bytes.readUInt32BE(16), 1200, 'width');
    assert.equal(bytes.readUInt32BE(20), 1600, 'height');
    // A blank 1200×1600 page compresses to a few KB; text, tables and plots to far more.
    assert.ok(statSync(png).size > 60_000, `screenshot is ${statSync(png).size} bytes: blank?`);
  });
});
