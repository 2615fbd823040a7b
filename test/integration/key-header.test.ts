import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerAdapter, OutRecord } from '../../src/brokers/adapter.js';
import { AmqpAdapter } from '../../src/brokers/amqp.js';
import { KEY_HEADER } from '../../src/brokers/key-header.js';
import { MqttAdapter } from '../../src/brokers/mqtt.js';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { captureStderr, text } from '../helpers.js';
import { type TestBroker, amqpBroker, mqttBroker, natsBroker, runId } from './clients.js';

/**
 * On the brokers whose key rides in the header `wasmsg-key` (NATS, AMQP, MQTT), an output's own
 * header of that name is not sent (only the record's key is), and the engine's logger says so:
 * once per broker and channel, not per message, naming both and why. Before, it was dropped
 * without a word. Against the real servers (the standard local ports, or WASMSG_TEST_*_URL).
 */

type Line = { level: number; component: string; url: string; msg: string };

const cases: Array<{
  kind: string;
  open: () => Promise<TestBroker>;
  adapter: (name: string, url: string) => BrokerAdapter;
}> = [
  { kind: 'nats', open: natsBroker, adapter: (name, url) => new NatsAdapter({ name, url }) },
  { kind: 'amqp', open: amqpBroker, adapter: (name, url) => new AmqpAdapter({ name, url }) },
  { kind: 'mqtt', open: mqttBroker, adapter: (name, url) => new MqttAdapter({ name, url }) },
];

describe("an output's own `wasmsg-key` header: not sent, and said once per broker and channel", () => {
  for (const c of cases) {
    test(`${c.kind}: one warning per broker and channel, whatever the number of outputs carrying it`, async () => {
      const tb = await c.open();
      // U+202E (right-to-left override) in a channel name: guest text, shown escaped
      const channels = [`wasmsg.${runId}.kh.${c.kind}.a`, `wasmsg.${runId}.kh.${c.kind}.b\u202e`];
      const [a, b] = channels as [string, string];
      const names = [`kh-${runId}-1`, `kh-${runId}-2`];
      const adapters = names.map((name) => c.adapter(name, tb.url));
      const reader = await tb.reader(a, 'queue');
      const { lines, release } = captureStderr();
      try {
        for (const adapter of adapters) await adapter.connect();
        const out = (channel: string, key: string | null, n: number): OutRecord => ({
          kind: 'queue',
          channel,
          key,
          headers: { [KEY_HEADER]: 'forged', 'x-n': String(n) },
          value: text(`v${n}`),
        });
        const [first, second] = adapters as [BrokerAdapter, BrokerAdapter];
        await first.publish([out(a, null, 0), out(a, 'real', 1)]);
        await first.publish([out(a, null, 2), out(b, null, 3)]);
        await second.publish([out(a, 'real', 4)]);
        await reader.until(4, 20_000);
      } finally {
        release();
        for (const adapter of adapters) await adapter.close();
        await reader.close();
        await tb.cleanup(channels);
        await tb.close();
      }
      // only the record's key went out under the name: never the forged header
      assert.deepEqual(reader.records.map((r) => [r.value, r.headers[KEY_HEADER]]).sort(), [
        ['v0', undefined],
        ['v1', 'real'],
        ['v2', undefined],
        ['v4', 'real'],
      ]);
      const warnings = lines
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes(`kh-${runId}-`))
        .map((l) => JSON.parse(l) as Line);
      // before: none
      assert.deepEqual(
        warnings.map((w) => [w.level, w.component, w.msg.slice(0, w.msg.indexOf(':'))]),
        [
          [40, c.kind, `broker '${names[0]}', channel '${a}'`],
          [40, c.kind, `broker '${names[0]}', channel '${b.replace('\u202e', '\\u202e')}'`],
          [40, c.kind, `broker '${names[1]}', channel '${a}'`],
        ],
      );
      for (const w of warnings) {
        assert.ok(!w.msg.includes('\u202e'), `the channel is escaped: ${w.msg}`);
        assert.match(
          w.msg,
          /an output's header 'wasmsg-key' was not sent: on this broker the name carries the record's key/,
        );
      }
    });
  }
});
