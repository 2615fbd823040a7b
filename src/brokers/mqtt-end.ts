import type { MqttClient } from 'mqtt';
import { within } from './common.js';

/**
 * Ends a consumer's client whose subscription failed. A session its connect made (the server had
 * none for the client id: CONNACK's session present 0) is ended with it (a DISCONNECT with a
 * session expiry of 0); before, it stayed on the server for its expiry (24 h with a `clientId`
 * of the user's). A session that was there before is left as it is: it may hold messages of an
 * earlier subscription, for the next run.
 */
export async function endRefused(client: MqttClient): Promise<void> {
  // (mqtt.js keeps the CONNACK it was answered with; its types call it private. Without it, as
  // before: the session stays)
  const connack = (client as unknown as { connackPacket?: { sessionPresent?: boolean } }).connackPacket;
  if (client.connected && connack?.sessionPresent === false) {
    const ended = client.endAsync(false, { properties: { sessionExpiryInterval: 0 } }).then(
      () => true,
      () => true,
    );
    if ((await within(ended, 1000)) === true) return;
  }
  client.stream?.destroy(); // (lost meanwhile, or the DISCONNECT unanswered for 1 s)
  await client.endAsync(true).catch(() => {});
}
