import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrokerAdapter } from '../../src/brokers/adapter.js';
import { createBroker } from '../../src/brokers/connect.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Budget, LimitedAdapter } from '../../src/cli/limit.js';
import type { FormatSpec } from '../../src/component/types.js';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, decode, fixture } from '../helpers.js';
import {
  type KafkaMock,
  type TestBroker,
  amqpBroker,
  kafkaBroker,
  mqttBroker,
  runId,
  startKafkaMock,
} from './clients.js';

/**
 * World C's `format` of a record from a real broker is the broker's kind, however the engine got
 * that broker's adapter: created from `options.brokers`, handed in (`new Engine(options,
 * [adapter])`), or handed in wrapped for a budget (`wasmsg run --limit`, src/cli/limit.ts). The
 * batch-script fixture's `f` sends the name of the format it sees to `format` on the embedded
 * `default` broker, where the test reads it; the real broker is `src`.
 */

const TEST_TIMEOUT = 60_000;
const WAYS = ['options.brokers', 'adapter handed in', 'adapter handed in, wrapped for --limit'] as const;

/** The formats batch-script reported for `n` messages `f<i>` produced to a fresh channel of `tb`, read `way`. */
async function formatsSeen(tb: TestBroker, way: (typeof WAYS)[number], n: number): Promise<string[]> {
  const id = `format-${WAYS.indexOf(way)}`;
  const input = `wasmsg.${runId}.${tb.name}.${id}`;
  await tb.prepare(input);
  const spec = { name: 'src', url: tb.url, options: tb.adapterOptions(id) };
  const memory = new MemoryBroker({ name: 'default' });
  const adapters: BrokerAdapter[] = [memory];
  const created: BrokerAdapter[] = [];
  if (way !== 'options.brokers') {
    const adapter = await createBroker(spec);
    created.push(adapter);
    adapters.push(way === 'adapter handed in' ? adapter : new LimitedAdapter(adapter, new Budget(n)));
  }
  const engine = new Engine(
    {
      brokers: way === 'options.brokers' ? [spec] : [],
      components: [
        {
          path: fixture('batch-script'),
          subscriptions: [{ broker: 'src', channel: input, kind: 'queue', group: `g-${runId}-${id}` }],
        },
      ],
      workers: 1,
      cacheDir,
    },
    adapters,
  );
  try {
    await engine.start();
    const settled = engine.waitForSettled(n);
    await tb.produce(
      input,
      Array.from({ length: n }, (_, i) => `f${i}`),
    );
    await settled;
    assert.equal(engine.snapshot().failed, 0);
  } finally {
    await engine.stop();
    for (const a of created) await a.close().catch(() => {});
    await tb.cleanup([input]);
  }
  return memory.read('format').map((r) => decode(r.value));
}

function formatSuite(open: () => Promise<TestBroker>, want: FormatSpec, cleanup?: () => Promise<void>): void {
  let tb: TestBroker | undefined;
  before(async () => {
    tb = await open();
  });
  after(async () => {
    await tb?.close();
    await cleanup?.();
  });
  for (const way of WAYS) {
    test(`format '${want}' with the broker from ${way}`, { timeout: TEST_TIMEOUT }, async () => {
      assert.deepEqual(await formatsSeen(tb!, way, 3), [want, want, want]);
    });
  }
}

describe('integration: world C format, amqp', () => formatSuite(amqpBroker, 'amqp'));
describe('integration: world C format, mqtt', () => formatSuite(mqttBroker, 'mqtt'));
describe('integration: world C format, kafka (librdkafka mock)', () => {
  let mock: KafkaMock | undefined;
  formatSuite(
    async () => {
      mock = await startKafkaMock([]);
      return kafkaBroker(mock);
    },
    'kafka',
    async () => {
      await mock?.stop();
    },
  );
});
