import { schemeOf } from '../brokers/connect.js';
import { compileGrants } from '../component/grants.js';
import { formatOfScheme } from '../component/host-c.js';
import { ComponentInstance } from '../component/instance.js';
import type { CompiledComponent } from '../component/load.js';
import type { FormatSpec } from '../component/types.js';
import { ErrorCode, OptionError } from '../errors.js';
import type { ResolvedOptions } from './options.js';

/** World C: the `format` of a message without CloudEvents attributes, per broker (`raw` for the others). */
export function brokerFormats(options: ResolvedOptions): Record<string, FormatSpec> {
  const formats: Record<string, FormatSpec> = {};
  for (const b of options.brokers) formats[b.name] = formatOfScheme(schemeOf(b.url));
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
    const component = components[i]!;
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
    c.subscriptions.push(...channels.map((channel) => ({ broker: 'default', channel, kind: 'queue' as const })));
  }
}
