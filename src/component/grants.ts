import type { Grants, MessagingError } from './types.js';

/** Compiled form of Grants: checks are a Set lookup or a regex test, done per host call. */
export interface GrantCheck {
  open(broker: string): MessagingError | null;
  publish(broker: string, channel: string): MessagingError | null;
  subscribe(broker: string, channel: string): MessagingError | null;
}

function patterns(list: readonly string[] | undefined): RegExp | null {
  if (list === undefined) return null;
  const alternatives = list.map((p) => p.split('*').map(escape).join('.*'));
  return new RegExp(`^(?:${alternatives.join('|') || '(?!)'})$`);
}

function escape(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

export function compileGrants(grants: Grants | undefined): GrantCheck {
  const brokers = grants?.brokers === undefined ? null : new Set(grants.brokers);
  const pub = patterns(grants?.publish);
  const sub = patterns(grants?.subscribe);
  return {
    open: (broker) =>
      brokers === null || brokers.has(broker)
        ? null
        : { tag: 'permission-denied', val: `not granted broker '${broker}'` },
    publish: (broker, channel) =>
      pub === null || pub.test(channel)
        ? null
        : { tag: 'permission-denied', val: `not granted publish to '${channel}' on broker '${broker}'` },
    subscribe: (broker, channel) =>
      sub === null || sub.test(channel)
        ? null
        : { tag: 'permission-denied', val: `not granted subscribe to '${channel}' on broker '${broker}'` },
  };
}
