import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageTuple } from '../../src/codec/batch.js';
import { Msg } from '../../src/codec/layout.js';
import type { Guest } from '../../src/component/direct/guest.js';
import { toGuestMessage } from '../../src/component/host-c.js';
import { ComponentInstance } from '../../src/component/instance.js';
import type { CallOutcome, HostConfig, InboundMessage } from '../../src/component/types.js';
import { at, examples, fixture, load } from '../helpers.js';

/**
 * jco stays the oracle: seeded, fuzzed messages go through the direct binding and through jco's
 * glue, on two instances of the same component with the same host configuration, and every
 * outcome must be identical — result (ok / err variant / trap text), outbox (channels, kinds,
 * headers, bytes), rebuilds after traps and world B handles left undropped. The mirror fixtures
 * echo every lowered field back through the host imports and, by their first data byte, take
 * every import path (deny, fail, trap mid-call, leak, grow memory).
 */

const COMPONENTS = {
  noop: examples.noop,
  spin: examples.spin,
  enrich: examples.enrich,
  echo: examples.echo,
  err: fixture('err'),
  trap: fixture('trap'),
  poison: fixture('poison'),
  relay: fixture('relay'),
  'leak-b': fixture('leak-b'),
  'mirror-a': fixture('mirror-a'),
  'mirror-b': fixture('mirror-b'),
};

const HOSTS: Record<string, HostConfig> = {
  open: { brokers: ['default'] },
  'publish granted to some channels': {
    brokers: ['default'],
    grants: { publish: ['mirror', 'echo', 'orders.*', 'c*'] },
  },
  'no broker granted': { brokers: ['default'], grants: { brokers: [] } },
  'unknown broker': { brokers: ['elsewhere'] },
};

const CALLS = Number(process.env['WASMSG_DIFF_CALLS'] ?? 300);

/** mulberry32: small, seedable, good enough to spread inputs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'a',
  'Z',
  '0',
  '/',
  '.',
  ' ',
  'é',
  '€',
  '日本',
  '😀',
  '\ud800',
  '\udc00',
  '\u0000',
  '\ufeff',
  'ce_',
  '\n',
];

function gen(seed: number): InboundMessage {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const str = (max: number): string => {
    let s = '';
    for (let n = int(max + 1); n > 0; n--) s += r() < 0.6 ? String.fromCharCode(97 + int(26)) : pick(PIECES);
    return s;
  };
  const bytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  // payload: empty, small, medium, or large enough to grow guest memory (≥ 70 KiB)
  const size = pick([0, 1, 2 + int(30), 100 + int(400), r() < 0.1 ? 70_000 + int(20_000) : 10]);
  let payload = bytes(size);
  // the mirror fixtures' opcodes, so every path is taken often
  if (size > 0 && r() < 0.7) payload[0] = pick([...'DSTEGXA0123456789'].map((c) => c.charCodeAt(0)));
  let headers: Record<string, string> | undefined;
  const shape = int(6);
  if (shape === 1) headers = {};
  else if (shape >= 2) {
    headers = {};
    for (let n = int(12); n > 0; n--) headers[str(8) || 'k'] = str(20);
    if (r() < 0.3) headers['content-type'] = pick(['application/json', 'text/plain; charset=utf-8', str(10)]);
    if (shape === 4) {
      const p = pick(['ce_', 'ce-', 'cloudEvents:', '']);
      headers[`${p}specversion`] = '1.0';
      if (r() < 0.8) headers[`${p}type`] = str(12);
      if (r() < 0.8) headers[`${p}id`] = str(12);
      if (r() < 0.5) headers[`${p}source`] = str(12);
      if (r() < 0.5) headers[`${p}subject`] = str(6);
      if (r() < 0.5) headers[`${p}time`] = '2026-01-01T00:00:00Z';
      if (r() < 0.5) headers[`${p}dataschema`] = str(6);
      if (r() < 0.5) headers[`${p}ext${int(9)}`] = str(6);
    }
    if (shape === 5) {
      headers['content-type'] = 'application/cloudevents+json';
      const doc: Record<string, unknown> = { specversion: '1.0', id: str(8), type: str(8), source: str(8) };
      const d = r();
      if (d < 0.5) doc['data'] = r() < 0.5 ? str(20) : { n: int(100), s: str(5) };
      else if (d < 0.75) doc['data_base64'] = Buffer.from(bytes(int(40))).toString('base64');
      if (r() < 0.5) doc[`x${int(9)}`] = str(6);
      payload = new TextEncoder().encode(r() < 0.9 ? JSON.stringify(doc) : `{${str(5)}`);
    }
  }
  return {
    payload,
    channel: pick(['orders', 'in', 'c.日本', str(12) || 'x']),
    partition: int(8),
    offset: String(int(1_000_000)),
    key: r() < 0.3 ? null : str(10),
    timestamp: r() < 0.1 ? undefined : 1_700_000_000_000 + int(1e9),
    broker: pick(['default', 'kafka', undefined]),
    ...(headers === undefined ? {} : { headers }),
  } as InboundMessage;
}

/**
 * The batch codec's tuple of a message. `integer`: its offset as the embedded broker's records
 * carry it (an integer, whose digits the direct binding writes itself); jco gets the string.
 */
function tuple(m: InboundMessage, integer = false): MessageTuple {
  return [
    m.payload,
    m.channel,
    m.partition!,
    integer ? Number(m.offset) : m.offset!,
    m.key ?? null,
    (m.headers ?? {}) as Record<string, string>,
    m.timestamp!,
    0,
    m.broker!,
  ];
}

function withLane(t: MessageTuple, lane: number): MessageTuple {
  t[Msg.lane] = lane;
  return t;
}

function normalise(o: CallOutcome): unknown {
  return {
    result: o.result,
    outbox: o.outbox.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') })),
  };
}

describe('differential: direct binding against jco glue (the oracle)', () => {
  for (const [name, file] of Object.entries(COMPONENTS)) {
    test(`${name}: ${CALLS} fuzzed calls per host configuration give identical outcomes`, async () => {
      const component = await load(file);
      assert.equal(component.binding.kind, 'direct', `${name} should fit the direct binding: ${component.binding.why}`);
      let calls = 0;
      for (const [hostName, host] of Object.entries(HOSTS)) {
        const direct = await ComponentInstance.create(component, host);
        const jco = await ComponentInstance.create(component, { ...host, binding: 'jco' });
        assert.equal(direct.binding, 'direct');
        assert.equal(jco.binding, 'jco');
        for (let i = 0; i < CALLS; i++) {
          const seed = (i + 1) * 7919 + hostName.length;
          const m = gen(seed);
          const want = normalise(jco.call(m));
          // the engine's path (from the batch tuple, its offset a string or an integer) and the object path
          const got = normalise(i % 2 === 0 ? direct.callTuple(tuple(m, i % 4 === 0)) : direct.call(m));
          const where = `${name}, host '${hostName}', seed ${seed}`;
          assert.deepEqual(got, want, where);
          assert.equal(direct.rebuilds, jco.rebuilds, `rebuilds after a trap: ${where}`);
          assert.equal(direct.leakedHandles, jco.leakedHandles, `world B handles left undropped: ${where}`);
          calls++;
        }
      }
      assert.equal(calls, CALLS * Object.keys(HOSTS).length);
    });
  }

  const BATCH_COMPONENTS = {
    batch: at('examples/batch-wat/batch.wasm'),
    'batch-script': fixture('batch-script'),
    'batch-v010': fixture('batch-v010'),
  };
  const SCRIPT = [...'cascteuprgTfx'].map((c) => c.charCodeAt(0));
  for (const [name, file] of Object.entries(BATCH_COMPONENTS)) {
    test(`world C ${name}: ${CALLS / 4} fuzzed batches per host configuration give identical outcomes`, async () => {
      const component = await load(file);
      assert.equal(component.binding.kind, 'direct', component.binding.why);
      for (const [hostName, host] of Object.entries(HOSTS)) {
        const config = { ...host, brokerFormats: { default: 'kafka' as const } };
        const direct = await ComponentInstance.create(component, config);
        const jco = await ComponentInstance.create(component, { ...config, binding: 'jco' });
        assert.deepEqual(direct.configuration, jco.configuration);
        for (let b = 0; b < CALLS / 4; b++) {
          const r = rng(b + 1);
          const msgs = Array.from({ length: 1 + Math.floor(r() * 12) }, (_, i) => {
            const m = gen((b + 1) * 131 + i);
            if (m.payload.length > 0 && r() < 0.8) m.payload[0] = SCRIPT[Math.floor(r() * SCRIPT.length)]!;
            return m;
          });
          const lanes = msgs.map((m) => m.partition! % 3);
          // every other batch from the codec's tuples, integer offsets included (the pool worker's path)
          const got =
            b % 2 === 0
              ? direct.callBatch(msgs, lanes)
              : direct.callBatchTuples(msgs.map((m, i) => withLane(tuple(m, i % 2 === 0), lanes[i]!)));
          const want = jco.callBatch(msgs, lanes);
          const where = `${name}, host '${hostName}', batch ${b}`;
          const norm = (o: typeof got): unknown => normalise({ result: o.results as never, outbox: o.outbox });
          assert.deepEqual(norm(got), norm(want), where);
          assert.equal(direct.rebuilds, jco.rebuilds, `rebuilds: ${where}`);
          assert.deepEqual(direct.configuration, jco.configuration, `configuration after rebuilds: ${where}`);
        }
      }
    });
  }

  test("world C: the direct binding lowers the metadata the host's own mapping gives, integer offsets included", async () => {
    const inst = await ComponentInstance.create(await load(fixture('batch-noop')), HOSTS['open']!);
    // the direct binding's lowering of one message, read back from guest memory (its internals)
    const direct = (
      inst as unknown as { direct: { guest: Guest; lowerMessage(at: number, m: MessageTuple, i: number): void } }
    ).direct;
    const g = direct.guest;
    for (let i = 0; i < 400; i++) {
      const m = gen(i + 7);
      const t = tuple(m, i % 2 === 0);
      const at = g.alloc(4, 24);
      direct.lowerMessage(at, t, i);
      assert.equal(g.u8[at + 12], 1, 'metadata present');
      // as a string crosses in UTF-8 and back (lone surrogates become U+FFFD, a leading BOM goes)
      const utf8 = (x: string): string => new TextDecoder().decode(new TextEncoder().encode(x));
      const want = toGuestMessage(m, i).metadata!.map(([k, v]) => [utf8(k), utf8(v)]);
      assert.deepEqual(g.loadPairsAt(at + 16), want, `message ${i}`);
    }
  });

  test('world C: configure() returning err fails both bindings with the same text', async () => {
    const component = await load(fixture('batch-noconf'));
    const errors = await Promise.all(
      (['auto', 'jco'] as const).map((binding) =>
        ComponentInstance.create(component, { ...HOSTS['open']!, binding }).then(
          () => 'created',
          (e: Error) => e.message,
        ),
      ),
    );
    assert.match(errors[0]!, /configure\(\) returned err/);
    assert.equal(errors[0], errors[1]);
  });

  test('the fuzzer reaches every outcome: ok, err of each kind, trap, outputs and leaks', async () => {
    const results = new Set<string>();
    let outputs = 0;
    let leaked = 0;
    for (const file of [COMPONENTS['mirror-a'], COMPONENTS['mirror-b']]) {
      const direct = await ComponentInstance.create(await load(file), HOSTS['publish granted to some channels']!);
      for (let i = 0; i < CALLS; i++) {
        const m = gen((i + 1) * 7919 + 32);
        const out = direct.call(m);
        results.add(out.result.tag === 'error' ? `error:${out.result.error.tag}` : out.result.tag);
        outputs += out.outbox.length;
      }
      leaked += direct.leakedHandles;
    }
    for (const r of ['ok', 'trap', 'error:other', 'error:permission-denied', 'error:connection']) {
      assert.ok(results.has(r), `no ${r} among ${[...results].join(', ')}`);
    }
    assert.ok(outputs > 0);
    assert.ok(leaked > 0);
  });

  test('a payload that grows guest memory several times over (1 MiB) comes back whole from both', async () => {
    // 'G': mirror-a grows its memory by itself as well, then publishes; '0' (op 0): mirror-b sends it on
    for (const [file, op] of [
      [COMPONENTS['mirror-a'], 'G'],
      [COMPONENTS['mirror-b'], '0'],
    ] as const) {
      const payload = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
      payload[0] = op.charCodeAt(0);
      const m: InboundMessage = { payload, channel: 'orders', partition: 0, offset: '1', headers: { a: 'é' } };
      const component = await load(file);
      const direct = (await ComponentInstance.create(component, HOSTS['open']!)).call(m);
      const jco = (await ComponentInstance.create(component, { ...HOSTS['open']!, binding: 'jco' })).call(m);
      assert.deepEqual(normalise(direct), normalise(jco));
      assert.equal(direct.outbox.length, 1);
      assert.deepEqual(direct.outbox[0]!.data, payload);
    }
  });
});
