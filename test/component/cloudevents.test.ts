import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SYNTHETIC_TYPE, eventToHeaders, messageToEvent } from '../../src/component/cloudevents.js';
import { decode, text } from '../helpers.js';

test('a plain record gets synthesised attributes from its broker position', () => {
  const e = messageToEvent({
    payload: text('p'),
    channel: 'orders',
    broker: 'kafka',
    partition: 3,
    offset: '17',
    key: 'k1',
    timestamp: 0,
    headers: { 'content-type': 'text/plain', trace: 'abc' },
  });
  assert.equal(e.specversion, '1.0');
  assert.equal(e.id, 'orders/3/17');
  assert.equal(e.source, 'wasmsg://kafka/orders');
  assert.equal(e.ty, SYNTHETIC_TYPE);
  assert.equal(e.time, '1970-01-01T00:00:00.000Z');
  assert.equal(e.subject, 'k1');
  assert.equal(e.datacontenttype, 'text/plain');
  assert.deepEqual(e.extensions, [['trace', 'abc']]);
});

test('binary mode: ce_ headers are the attributes, other ce_ headers extensions', () => {
  const e = messageToEvent({
    payload: text('{}'),
    channel: 'c',
    headers: {
      ce_specversion: '1.0',
      ce_id: 'id-9',
      ce_source: '/s',
      ce_type: 't.x',
      ce_subject: 'sub',
      ce_region: 'eu',
      'content-type': 'application/json',
    },
  });
  assert.deepEqual(
    { id: e.id, source: e.source, ty: e.ty, subject: e.subject, ct: e.datacontenttype, ext: e.extensions },
    { id: 'id-9', source: '/s', ty: 't.x', subject: 'sub', ct: 'application/json', ext: [['region', 'eu']] },
  );
});

test('binary mode with AMQP cloudEvents: prefixes and MQTT unprefixed properties', () => {
  assert.equal(
    messageToEvent({
      payload: text(''),
      channel: 'c',
      headers: { 'cloudEvents:specversion': '1.0', 'cloudEvents:id': 'a1' },
    }).id,
    'a1',
  );
  assert.equal(
    messageToEvent({ payload: text(''), channel: 'c', headers: { specversion: '1.0', id: 'm1', type: 'mt' } }).ty,
    'mt',
  );
});

test('structured mode: the JSON body carries the attributes and the data', () => {
  const body = { specversion: '1.0', id: 's1', source: '/src', type: 'st', data: { n: 1 }, tenant: 'x' };
  const e = messageToEvent({
    payload: text(JSON.stringify(body)),
    channel: 'c',
    headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
  });
  assert.equal(e.id, 's1');
  assert.equal(e.ty, 'st');
  assert.deepEqual(JSON.parse(decode(e.data!)), { n: 1 });
  assert.equal(e.datacontenttype, 'application/json');
  assert.deepEqual(e.extensions, [['tenant', 'x']]);
  const b64 = messageToEvent({
    payload: text(
      JSON.stringify({ specversion: '1.0', id: 's2', data_base64: Buffer.from([1, 2]).toString('base64') }),
    ),
    channel: 'c',
    headers: { 'content-type': 'application/cloudevents+json' },
  });
  assert.deepEqual([...b64.data!], [1, 2]);
});

test('an outgoing event becomes ce_ headers', () => {
  assert.deepEqual(
    eventToHeaders({
      specversion: '1.0',
      id: 'i',
      source: 's',
      ty: 't',
      datacontenttype: 'a/b',
      subject: 'x',
      extensions: [['k', 'v']],
    }),
    {
      ce_specversion: '1.0',
      ce_id: 'i',
      ce_source: 's',
      ce_type: 't',
      ce_subject: 'x',
      'content-type': 'a/b',
      ce_k: 'v',
    },
  );
});
