import { logger } from '../log.js';
import type { BrokerAdapter } from '../brokers/adapter.js';
import { compileGrants } from '../component/grants.js';
import { ComponentInstance } from '../component/instance.js';
import type { CompiledComponent } from '../component/load.js';
import type { FormatSpec } from '../component/types.js';
import { ErrorCode, OptionError } from '../errors.js';
import type { ResolvedOptions } from './options.js';

/**
 * World C: the `format` of a message without CloudEvents attributes, per broker name — each
 * adapter's own `format` (`raw` for those without one). Read from the adapters the engine uses,
 * not from `options.brokers`: adapters handed to the engine (`new Engine(options, [adapter])`,
 * `run --limit`) have no broker spec, and the configured ones are among them once created.
 */
export function brokerFormats(adapters: ReadonlyMap<string, BrokerAdapter>): Record<string, FormatSpec> {
  const formats: Record<string, FormatSpec> = {};
  for (const [name, a] of adapters) if (a.format !== undefined) formats[name] = a.format;
  return formats;
}

/**
 * A world C component configured without subscriptions subscribes to the channels its
 * `configure()` returns (on broker `default`, kind `queue`): one instance is built here, in the
 * main thread, to ask it. Components of worlds A and B must name their subscriptions.
 */
export async function subscriptionsFromConfigure(
  options: ResolvedOptions,
  components: readonly CompiledComponent[],
  brokerNames: readonly string[],
): Promise<void> {
  for (const [i, c] of options.components.entries()) {
    if (c.subscriptions.length > 0) continue;
    const channels = await configuredChannels(c, components[i]!, i, brokerNames);
    c.subscriptions.push(...channels.map((channel) => ({ broker: 'default', channel, kind: 'queue' as const })));
  }
}

/**
 * The channels a world C component's `configure()` returns, each allowed by its grants (an
 * instance built in this thread, as the workers will: a `configure()` that errs throws its
 * ComponentLinkError here). Throws OptionError when it names none, or one its grants refuse; or
 * for a component of another world (it needs subscriptions). `wasmsg validate` asks it too.
 */
export async function configuredChannels(
  c: ResolvedOptions['components'][number],
  component: CompiledComponent,
  i: number,
  brokerNames: readonly string[],
): Promise<string[]> {
  const option = `components[${i}].subscriptions`;
  if (component.family !== 'c') {
    throw new OptionError(
      ErrorCode.badOption,
      `options.${option}: ${component.name} (${component.world}) needs subscriptions; only a world C component takes them from configure()`,
      { option },
    );
  }
  const instance = await ComponentInstance.create(component, {
    brokers: brokerNames,
    binding: c.binding,
    ...(c.grants === undefined ? {} : { grants: c.grants }),
  });
  const channels = [...new Set(instance.configuration?.channels ?? [])];
  if (channels.length === 0) {
    throw new OptionError(
      ErrorCode.badOption,
      `options.${option}: ${component.name}'s configure() names no channels; name its subscriptions in the options`,
      { option },
    );
  }
  const grants = compileGrants(c.grants);
  for (const channel of channels) {
    if (grants.subscribe('default', channel) !== null) {
      throw new OptionError(
        ErrorCode.badOption,
        `options.${option}: ${component.name}'s configure() asks for channel '${channel}', which its grants do not allow`,
        { option, channel },
      );
    }
  }
  return channels;
}

/**
 * Warns, once a broker and channel, where dead letters would go to a broker that drops what
 * nobody reads at that moment (`BrokerAdapter.dropsUnread`: MQTT, core NATS): such a dead letter
 * is confirmed, its input acked, and it is gone unless a reader of that channel was there. By
 * default dead letters go to the input's own broker.
 */
export function warnDeadLettersDropped(options: ResolvedOptions, adapters: ReadonlyMap<string, BrokerAdapter>): void {
  const { broker: dlq, channel } = options.deadLetter;
  const said = new Set<string>();
  for (const c of options.components) {
    for (const s of c.subscriptions) {
      const name = dlq ?? s.broker;
      const why = adapters.get(name)?.dropsUnread;
      if (why === undefined || said.has(name)) continue;
      said.add(name);
      logger('engine').warn(
        { broker: name, channel },
        `dead letters of broker '${s.broker}' go to '${channel}' on broker '${name}', and ${why}: one is lost ` +
          `unless a reader of '${channel}' is there (a session that keeps it, for MQTT); to keep them, set ` +
          `deadLetter.broker to a broker that stores messages (Kafka, NATS JetStream, Redis, AMQP)`,
      );
    }
  }
}
