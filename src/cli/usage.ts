import { InvalidArgumentError } from 'commander';
import { ErrorCode, OptionError } from '../errors.js';

/**
 * A mistake in how the command was written (a missing argument, flags that cannot go together):
 * exit code 2, like commander's own usage errors. Option values commander checks itself, through
 * the parsers below, so a bad number or header is reported the same way.
 */
export class UsageError extends OptionError {
  constructor(message: string, option: string) {
    super(ErrorCode.badOption, message, { option });
  }
}

/** A commander argument parser for an integer in [min, max]. */
export function intParser(min: number, max = Number.MAX_SAFE_INTEGER, why?: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(`must be an integer >= ${min}.`);
    }
    if (n > max) throw new InvalidArgumentError(`must be at most ${max}${why === undefined ? '' : ` (${why})`}.`);
    return n;
  };
}

/** `--header k=v`, repeatable: collected into a list of [key, value]. */
export function headerParser(value: string, previous: Array<[string, string]> = []): Array<[string, string]> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('must be key=value.');
  return [...previous, [value.slice(0, eq), value.slice(eq + 1)]];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
