import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { parseHostPort } from '../../src/cli/metrics.js';
import { at, cacheDir, examples } from '../helpers.js';
import { parseProm as parse } from '../engine/prom-text.js';

/** Issue 11 item 2: `wasmsg run --metrics host:port` serves Prometheus text read from the engine's snapshot. */

const bin = at('dist/src/cli/main.js');

describe('metrics (issue 11 item 2)', () => {
  test('/metrics parses, counts what was settled; /healthz, /readyz answer', async () => {
    // 300 generated, waiting for 1000: the run stays up to be scraped
    const child = spawn(
      process.execPath,
      [bin, 'run', examples.noop, '--generate', '300', '--limit', '1000', '--workers', '1', '--metrics', '127.0.0.1:0'],
      { env: { ...process.env, WASMSG_CACHE_DIR: cacheDir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no metrics line: ${stderr}`)), 30_000);
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /"metrics":"(http:\/\/[^"]+)\/metrics"/.exec(stderr);
          if (m !== null) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.on('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      let samples = new Map<string, number>();
      for (let i = 0; i < 100 && samples.get('wasmsg_messages_acked_total') !== 300; i++) {
        const res = await fetch(`${url}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        samples = parse(await res.text());
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(samples.get('wasmsg_messages_acked_total'), 300);
      assert.equal(samples.get('wasmsg_messages_received_total'), 300);
      assert.equal(samples.get('wasmsg_messages_handled_ok_total'), 300);
      assert.equal(samples.get('wasmsg_messages_dead_lettered_total'), 0);
      assert.equal(samples.get('wasmsg_in_flight_batches'), 0);
      const p99 = samples.get('wasmsg_end_to_end_latency_seconds{quantile="0.99"}')!;
      const max = samples.get('wasmsg_end_to_end_latency_seconds{quantile="1"}')!;
      assert.ok(p99 > 0 && p99 <= max, `${p99} <= ${max}`);
      assert.ok(samples.get('wasmsg_worker_call_seconds_mean')! > 0);
      // per component and channel, histograms, gauges read from the engine
      const acked = [...samples].filter(([k]) => k.startsWith('wasmsg_channel_acked_total{component="noop",'));
      assert.equal(acked.length, 1, 'one component on one channel');
      assert.equal(acked[0]![1], 300);
      assert.equal(samples.get('wasmsg_latency_seconds_count'), 300);
      assert.equal(samples.get('wasmsg_latency_seconds_bucket{le="+Inf"}'), 300);
      assert.ok(samples.get('wasmsg_handler_seconds_count')! >= 300);
      assert.equal(samples.get('wasmsg_paused'), 0);
      assert.equal(samples.get('wasmsg_ready'), 1);
      const u = samples.get('wasmsg_worker_utilisation')!;
      assert.ok(u >= 0 && u <= 1, `utilisation ${u}`);
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.equal((await fetch(`${url}/nope`)).status, 404);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.on('exit', r));
    }
  });

  test('--metrics needs host:port', () => {
    assert.deepEqual(parseHostPort(':9464'), { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(parseHostPort('[::1]:9464'), { host: '::1', port: 9464 });
    assert.throws(() => parseHostPort('9464'), /expected host:port/);
  });
});
