import { percentEncode } from './common.js';

/**
 * What MQTT can carry (brokers/mqtt.ts is the adapter): the characters its servers refuse in a
 * string, and the topics and topic filters it refuses to send, checked before anything is sent.
 */

/** Longest MQTT string (a topic, a filter, a user property's name or value), in UTF-8 bytes. */
const MQTT_STRING = 65_535;

/** Characters an MQTT server refuses in a UTF-8 string (Mosquitto disconnects the client). */
export function badMqttChar(cp: number): boolean {
  return (
    cp <= 0x1f ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe ||
    (cp >= 0xd800 && cp <= 0xdfff) // unpaired: codePointAt gives a pair as one code point
  );
}

/** A user property name or value, or a content type, as MQTT can carry it. */
export function mqttString(text: string): string {
  return percentEncode(text, badMqttChar);
}

/** The first character of `text` MQTT servers refuse, as `U+XXXX`, or undefined. */
export function badChar(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    if (badMqttChar(cp)) return `U+${cp.toString(16).padStart(4, '0')}`;
    if (cp > 0xffff) i++;
  }
  return undefined;
}

/** Why `topic` cannot be published to, or undefined when it can. */
export function badTopic(topic: string): string | undefined {
  if (topic === '') return 'an empty topic';
  if (Buffer.byteLength(topic) > MQTT_STRING) return 'a topic longer than 65 535 bytes';
  if (topic.includes('+') || topic.includes('#')) return `topic '${topic}' has a wildcard`;
  if (topic.startsWith('$')) return `topic '${topic}' is reserved for the server ($)`;
  const bad = badChar(topic);
  return bad === undefined ? undefined : `topic '${topic}' has a character MQTT servers refuse (${bad})`;
}

/**
 * Why a subscription's topic filter cannot be sent, or undefined (mqtt.js checks where its
 * wildcards are). Past 65 535 bytes mqtt.js's packet encoder throws after it registered the
 * SUBSCRIBE, whose own promise then rejects unhandled when the client closes: the process ended.
 * A character servers refuse (or an empty filter) makes Mosquitto close the connection.
 */
export function badFilter(filter: string): string | undefined {
  if (filter === '') return 'an empty topic filter';
  if (Buffer.byteLength(filter) > MQTT_STRING) return 'a topic filter longer than 65 535 bytes';
  const bad = badChar(filter);
  return bad === undefined ? undefined : `the topic filter has a character MQTT servers refuse (${bad})`;
}

/**
 * Why a queue subscription's shared filter `$share/<group>/<channel>` cannot be sent, or
 * undefined. A group holding `/` was read by the server as a shorter group and a longer filter
 * (`a/b` on `x`: group `a`, topic `b/x`): another topic subscribed, silently. An empty group or
 * channel was taken by Mosquitto: a subscription nothing can ever match. A group holding a
 * wildcard mqtt.js refuses (`Invalid topic`), after a client was made.
 */
export function badSharedFilter(group: string, channel: string): string | undefined {
  if (group === '') return "an empty group (a shared subscription's name)";
  const cut = /[/+#]/.exec(group);
  if (cut !== null) return `group '${group}' has '${cut[0]}', which a shared subscription's name cannot hold`;
  if (channel === '') return 'an empty topic filter';
  return badFilter(`$share/${group}/${channel}`);
}

/**
 * Why a subscription was refused, from what mqtt.js's `subscribeAsync` rejected with — or
 * undefined when the connection failed meanwhile (`Connection closed`, `client disconnecting`):
 * subscribeFailed (common.ts) makes E_BAD_INPUT of the one, E_BROKER_UNAVAILABLE of the other.
 * A SUBACK with a reason code ≥ 0x80 rejects with that code (mqtt.js's handlers/ack.js:
 * `Subscribe error: Not authorized`, code 0x87); a filter mqtt.js refuses before sending it
 * (a `#` not last) with `Invalid topic <filter>`.
 */
export function subscribeRefusal(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 0x80)
    return `the server refused it: ${err.message.replace(/^Subscribe error: /, '')} (reason code 0x${code.toString(16)})`;
  return err.message.startsWith('Invalid topic') ? err.message : undefined;
}
