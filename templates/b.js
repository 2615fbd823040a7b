// World B (wasi:messaging@0.2.0-draft / messaging-core) in JavaScript, built with ComponentizeJS
// (`jco componentize`): handle upper-cases the message's data and sends the message to topic
// `out` on broker `default`; an empty message is refused with err(other("empty message")).
import { Client } from 'wasi:messaging/types@0.2.0-draft';
import { send } from 'wasi:messaging/producer@0.2.0-draft';

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let client;

export const incomingHandler = {
  handle(message) {
    const text = decoder.decode(message.data());
    if (text.length === 0) {
      // a thrown { tag, val } is the handler's err(...)
      throw { tag: 'other', val: 'empty message' };
    }
    message.setData(encoder.encode(text.toUpperCase()));
    client ??= Client.connect('default');
    send(client, 'out', message);
  },
};
