import type { z } from 'zod';
import { EngineOptionsSchema } from './options-schema.js';
import { didYouMean } from './suggest.js';

export { levenshtein, suggest } from './suggest.js';

/**
 * Option problems as people read them: each zod issue as one line naming the field
 * (`options.components[0].subscriptions[0].kind: ...`), and an unknown key with the nearest known
 * key at its place in the schema as a did-you-mean suggestion. Used by `resolveOptions` (the
 * first problem, thrown) and `wasmsg validate` (every problem at once).
 */

/** `components[0].subscriptions[1].kind` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? String(p) : `${acc}.${String(p)}`),
    '',
  );
}

interface Def {
  type: string;
  innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  shape?: Record<string, unknown>;
}

/** The keys the schema knows for the object at `path` (through defaults, optionals and arrays). */
function keysAt(path: ReadonlyArray<PropertyKey>): string[] {
  let def = (EngineOptionsSchema as unknown as { _zod: { def: Def } })._zod.def;
  const unwrap = (): void => {
    while (def.innerType !== undefined) def = def.innerType._zod.def;
  };
  unwrap();
  for (const p of path) {
    if (typeof p === 'number' && def.element !== undefined) def = def.element._zod.def;
    else if (typeof p === 'string' && def.shape !== undefined && p in def.shape)
      def = (def.shape[p] as { _zod: { def: Def } })._zod.def;
    else return [];
    unwrap();
  }
  return def.shape === undefined ? [] : Object.keys(def.shape);
}

export interface OptionIssue {
  /** `components[0].subscriptions[0].kind`; '' for the top level. */
  readonly path: string;
  /** One line: `options.<path>: <what is wrong>`. */
  readonly message: string;
}

export function describeIssue(issue: z.core.$ZodIssue): OptionIssue[] {
  const path = formatPath(issue.path);
  const at = `options${path === '' ? '' : `.${path}`}`;
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(issue.path);
    return issue.keys.map((key) => {
      const hint = didYouMean(key, known) ?? `known keys: ${known.join(', ')}`;
      return { path, message: `${at}: Unrecognized key: "${key}" (${hint})` };
    });
  }
  return [{ path, message: `${at}: ${issue.message}` }];
}

/** Every problem of `input` against the schema, one line each; empty when it is valid. */
export function optionIssues(input: unknown): OptionIssue[] {
  const parsed = EngineOptionsSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.flatMap(describeIssue);
}
