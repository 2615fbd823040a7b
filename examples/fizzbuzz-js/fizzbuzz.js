// World A (wasi:messaging@0.1.0-draft / messaging) in JavaScript, built with `jco componentize`.
// The original proposal's demo handler: an event whose data starts with "fizz" has every "fizz"
// replaced with "buzz", and the result is published to topic `rust` on the default broker.
import { Broker } from 'wasi:messaging/messaging-types@0.1.0-draft';
import { publish } from 'wasi:messaging/producer@0.1.0-draft';

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let broker;

export const handler = {
  onReceive(event) {
    const text = event.data === undefined ? '' : decoder.decode(event.data);
    if (!text.startsWith('fizz')) return;
    broker ??= Broker.open('default');
    publish(
      broker,
      { tag: 'topic', val: 'rust' },
      {
        ...event,
        id: `${event.id}-buzz`,
        data: encoder.encode(text.replaceAll('fizz', 'buzz')),
      },
    );
  },
};
