// World C (wasi:messaging@0.2.0-draft / messaging, batch delivery) in JavaScript, built with
// ComponentizeJS (`jco componentize`): configure() asks for channel `in`; handler upper-cases the
// data of every message of the batch and sends the batch to topic `out` on broker `default`
// with one `send`.
import { Client } from 'wasi:messaging/messaging-types@0.2.0-draft';
import { send } from 'wasi:messaging/producer@0.2.0-draft';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export const messagingGuest = {
  configure() {
    return { channels: ['in'] };
  },
  handler(messages) {
    const out = messages.map((m) => ({ ...m, data: encoder.encode(decoder.decode(m.data).toUpperCase()) }));
    // the client is passed owned: connect for each batch
    send(Client.connect('default'), 'out', out);
  },
};
