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
