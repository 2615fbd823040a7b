import { type CloudEvent, eventToHeaders } from './cloudevents.js';
import { HostState, fail, guard } from './host-state.js';
import type { ChannelKind } from './types.js';

/** Host imports of world A (wasi:messaging@0.1.0-draft), keyed as jco's instantiation mode expects. */

interface Channel {
  tag: ChannelKind;
  val: string;
}

export function worldAImports(state: HostState): Record<string, Record<string, unknown>> {
  class Broker {
    readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    static open(name: string): Broker {
      return guard(() => {
        const denied = state.checkBroker(name);
        if (denied !== null) fail(denied);
        return new Broker(name);
      });
    }
  }

  function publish(b: Broker, c: Channel, e: CloudEvent): void {
    guard(() => {
      const denied = state.grants.publish(b.name, c.val);
      if (denied !== null) fail(denied);
      const over = state.admit(1, e.data?.length ?? 0);
      if (over !== null) fail(over);
      state.outbox.push({
        broker: b.name,
        kind: c.tag,
        channel: c.val,
        data: e.data ?? new Uint8Array(0),
        headers: eventToHeaders(e),
      });
    });
  }

  function subscribe(b: Broker, c: Channel): string {
    return guard(() => {
      const denied = state.grants.subscribe(b.name, c.val);
      if (denied !== null) fail(denied);
      return state.subscribe(b.name, c.tag, c.val);
    });
  }

  function unsubscribe(b: Broker, token: string): void {
    guard(() => {
      const sub = state.subscriptions.get(token);
      if (sub === undefined || sub.broker !== b.name) {
        fail({ tag: 'other', val: `unknown subscription token '${token}' on broker '${b.name}'` });
      }
      state.subscriptions.delete(token);
    });
  }

  return {
    'wasi:messaging/messaging-types': { Broker },
    'wasi:messaging/producer': { publish },
    'wasi:messaging/consumer': { subscribe, unsubscribe },
  };
}
