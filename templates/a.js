// World A (wasi:messaging@0.1.0-draft / messaging) in JavaScript, built with ComponentizeJS
// (`jco componentize`): on-receive upper-cases the event's data and publishes the event to topic
// `out` on broker `default`; an event without data is refused with err(other("empty message")).
import { Broker } from 'wasi:messaging/messaging-types@0.1.0-draft';
import { publish } from 'wasi:messaging/producer@0.1.0-draft';

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let broker;

export const handler = {
  onReceive(event) {
    if (event.data === undefined || event.data.length === 0) {
      // a thrown { tag, val } is the handler's err(...)
      throw { tag: 'other', val: 'empty message' };
    }
    broker ??= Broker.open('default');
    const data = encoder.encode(decoder.decode(event.data).toUpperCase());
    publish(broker, { tag: 'topic', val: 'out' }, { ...event, data });
  },
};
