// World B (wasi:messaging@0.2.0-draft / messaging-core) in JavaScript, built with `jco componentize`.
// Upper-cases the text of every message and sends it to the topic named by the message's
// `reply-to` metadata (default `shouted`), with metadata `shouted-by: shout-js`, and logs a line
// to stdout (which the host's WASI sandbox hands to its logger).
import { Client, Message } from 'wasi:messaging/types@0.2.0-draft';
import { send } from 'wasi:messaging/producer@0.2.0-draft';

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let client;

export const incomingHandler = {
  handle(message) {
    const text = decoder.decode(message.data());
    if (text.length === 0) {
      throw { tag: 'other', val: 'empty message' };
    }
    const replyTo = (message.metadata() ?? []).find(([k]) => k === 'reply-to')?.[1] ?? 'shouted';
    console.log(`shouting ${text.length} characters to ${replyTo}`);
    client ??= Client.connect('default');
    const out = new Message(encoder.encode(text.toUpperCase()));
    out.setContentType('text/plain');
    out.addMetadata('shouted-by', 'shout-js');
    send(client, replyTo, out);
  },
};
